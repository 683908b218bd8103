"""The port through which the pipeline reuses results: a version is analysed once, every later audit reuses it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from auditor.core.findings import ProbeResult

ANY_WHEEL_TAG = "*"  # in a lookup: whichever wheel of that version was probed for this Python and platform


@dataclass(frozen=True)
class ProbeKey:
    """What makes a probe result reusable (docs/data-flow.md). `origin` keeps uploaded wheels apart from the index."""

    name: str  # canonical (PEP 503) name
    version: str
    wheel_tag: str  # e.g. "py3-none-any"; "unknown" when the installer did not say
    python: str  # e.g. "3.11.2"
    platform: str  # e.g. "linux-x86_64"
    probe_version: str
    deep: bool  # public submodules probed too (the default) or top-level modules only (--shallow)
    origin: str = "index"  # "index", or "upload:<owner>" for a distribution that came from an uploaded wheel


class ResultStore(Protocol):
    def get(self, key: ProbeKey) -> ProbeResult | None:
        """The result stored under `key`; with wheel_tag ANY_WHEEL_TAG, the newest for any wheel tag."""

    def put(self, key: ProbeKey, result: ProbeResult) -> None: ...


class MemoryStore:
    """A ResultStore in a dict: for one-off runs and tests of the pipeline without a database."""

    def __init__(self) -> None:
        self._results: dict[ProbeKey, ProbeResult] = {}

    def get(self, key: ProbeKey) -> ProbeResult | None:
        if key.wheel_tag == ANY_WHEEL_TAG:
            found = [r for k, r in self._results.items() if dataclasses.replace(k, wheel_tag=ANY_WHEEL_TAG) == key]
            return found[-1] if found else None
        return self._results.get(key)

    def put(self, key: ProbeKey, result: ProbeResult) -> None:
        self._results[key] = result
