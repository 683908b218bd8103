"""Values computed from the stored results, kept by each process while the results stay as they were.

The lists that read every public result (the fork-unsafe packages, the home page's numbers) cost tens of milliseconds
at 100,000 results, and the results change only when a probe is stored or removed. A value is computed again when the
results' version has changed (a row the database changes with every write to the results, read by its primary key:
auditor/models.py), or after MAX_AGE seconds in any case (should a write ever miss the version: on SQLite, a
migration that rebuilds the results' table and forgets its triggers).

A request reads the version once (`once_per_request`, with `RequestScopeMiddleware`): a search page that lists,
counts and suggests would otherwise ask three times. What was stored or removed before a request started is seen by
it; what changes while it runs, by the next one. Outside a request (commands, tasks, tests) each call reads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any

MAX_AGE = 60.0

# What this request has read already: None outside a request.
_REQUEST_VALUES: ContextVar[dict[Hashable, Any] | None] = ContextVar("forkaudit_request_values", default=None)


def once_per_request(key: Hashable, read: Callable[[], Any]) -> Any:
    """`read()`, called once per request for `key` (every time outside a request)."""
    values = _REQUEST_VALUES.get()
    if values is None:
        return read()
    if key not in values:
        values[key] = read()
    return values[key]


class RequestScopeMiddleware:
    """Makes each request a scope of `once_per_request`."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _REQUEST_VALUES.set({})
        try:
            return self.get_response(request)
        finally:
            _REQUEST_VALUES.reset(token)


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
