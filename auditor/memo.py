"""Values computed from the stored results, kept by each process while the results stay as they were.

The lists that read every public result (the fork-unsafe packages, the home page's numbers) cost tens of milliseconds
at 100,000 results, and the results change only when a probe is stored. A value is computed again when the results'
fingerprint (how many, the last id, the newest time stored: three index lookups) has changed, or after MAX_AGE
seconds in any case (a worker whose clock is behind could store a result that leaves the newest time as it was).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

MAX_AGE = 60.0


class FingerprintMemo:
    def __init__(self, fingerprint: Callable[[], Hashable], *, max_age: float = MAX_AGE) -> None:
        self._fingerprint = fingerprint
        self._max_age = max_age
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[Hashable, float, Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of `key`, computed by `compute()` unless a fresh one is kept."""
        now = self._fingerprint()
        with self._lock:
            kept = self._values.get(key)
            if kept is not None and kept[0] == now and time.monotonic() - kept[1] <= self._max_age:
                return kept[2]
        value = compute()
        with self._lock:
            self._values[key] = (now, time.monotonic(), value)
        return value
