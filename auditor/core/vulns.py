"""Known vulnerabilities of the pinned distributions (docs/data-flow.md: the `vulnerability` finding).

The port is `VulnerabilitySource`: pins (canonical name -> version) in, the vulnerabilities of each name plus an
optional problem message out. A source never raises for a transport or service failure: the audit goes on without
vulnerability data and reports the message among its errors. `pip_audit_source` is the adapter over pip-audit's
services (OSV, or PyPI's JSON API). The caller names the service (FORKAUDIT_VULNERABILITY_SERVICE, read with every
other setting in auditor/project/settings.py; nothing here reads the environment); `none` turns vulnerability data
off without touching the network. pip-audit itself (with requests, a tenth of a second) is imported only when a
service is asked; `LookupProcess` asks in a process of its own, where pip-api (which would run `pip --version`) is
not imported at all.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
import types
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.core.background import SpawnPool
from auditor.core.findings import Vulnerability

if TYPE_CHECKING:
    from pip_audit._service import VulnerabilityService

VulnerabilitySource = Callable[[dict[str, str]], tuple[dict[str, list[Vulnerability]], str | None]]

# Every problem of the lookup is one line that starts so (the reports show it muted: auditor.core.report.describe)
# and ends by saying how to turn the lookup off.
TURN_OFF = "FORKAUDIT_VULNERABILITY_SERVICE=none (or forkaudit audit --no-vulnerabilities) turns the lookup off"
_UNREACHABLE = re.compile(r"^vulnerability data unavailable: cannot reach (?P<where>\S+) \((?P<why>.*)\)$")
# What the network said, in a person's words: a resolver's or a socket's errno means nothing to most readers.
_REASONS = (
    (
        re.compile(r"resolve|name or service not known|nodename nor servname|errno -[235]\b", re.I),
        "its name does not resolve here",
    ),
    (re.compile(r"connection refused|errno 111\b", re.I), "the connection was refused"),
    (re.compile(r"network is unreachable|no route to host|errno 10[13]\b|errno 113\b", re.I), "no route to it"),
    (re.compile(r"certificate|ssl|tls", re.I), "its TLS certificate was not accepted"),
    (re.compile(r"^no answer within [0-9.]+ s$"), None),  # already plain
)

SERVICES = ("osv", "pypi", "none")  # the names a caller may give; `none` asks nothing
DEFAULT_SERVICE = "osv"


class LookupProcess:
    """A `VulnerabilitySource` that runs pip-audit in a process of its own, started (by spawn) at once.

    pip-audit's import is a tenth of a second of CPU (requests, cachecontrol, its services). In a thread it would
    hold the interpreter lock that the caller's own start-up (Django) needs; in a process it runs on another core
    while the caller resolves and starts, and for an audit whose results are all stored it was most of what was left.
    `service` is a name of `SERVICES` or a picklable function that makes a pip-audit service. A context manager: on
    exit it waits for the process to end. With the service `none`, no process is started and every answer is empty.
    """

    def __init__(self, service: str | Callable[[], VulnerabilityService]) -> None:
        self._service = service
        self._pool: SpawnPool | None = None
        if service != "none":
            self._pool = SpawnPool(1, initializer=_prepare_worker)

    def __call__(self, pins: dict[str, str]) -> tuple[dict[str, list[Vulnerability]], str | None]:
        if self._pool is None:
            return {}, None
        try:
            return self._pool.submit(_lookup, pins, self._service).result()
        except BrokenProcessPool as error:
            return {}, f"vulnerability data unavailable: the lookup process failed ({error}); {TURN_OFF}"
        except Exception as error:  # a bug in pip-audit or in our mapping must not cost the audit its findings
            return (
                {},
                f"vulnerability data unavailable: the lookup failed ({type(error).__name__}: {error}); {TURN_OFF}",
            )

    def __enter__(self) -> LookupProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _prepare_worker() -> None:
    # The lookup's answer is needed only at the end: its imports should not slow the install and the probes, which
    # are, but fill the cores when they are idle (an audit that knows every result has a core to spare).
    os.nice(10)
    _stand_in_for_pip_api()
    importlib.import_module("auditor.core.pip_audit_adapter")


def _stand_in_for_pip_api() -> None:
    """Let pip-audit's services load without running pip.

    pip-audit's cache module imports pip-api for pip's version, which it needs only to find pip's own HTTP cache; our
    services are given a cache directory (`make_service`), so the version is never used. pip-api learns it when
    imported by running `python -m pip --version`: CPU in every audit. In the lookup's process, which uses
    nothing else of pip-api, a module with only that version (from pip's metadata) stands in for it.
    """
    if "pip_api" in sys.modules:
        return
    try:
        pip_version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        pip_version = "0"
    stand_in = types.ModuleType("pip_api", "pip-api's version attribute only (see auditor.core.vulns)")
    stand_in.PIP_VERSION = pip_version  # type: ignore[attr-defined]  # a ModuleType has only what is set on it
    sys.modules["pip_api"] = stand_in


def _lookup(
    pins: dict[str, str], service: str | Callable[[], VulnerabilityService]
) -> tuple[dict[str, list[Vulnerability]], str | None]:
    return pip_audit_source(pins, service=service if isinstance(service, str) else service())


def pip_audit_source(
    pins: dict[str, str],
    *,
    service: str | VulnerabilityService,
    timeout: float = 15,
    total_timeout: float = 120,
    cache_dir: Path | None = None,
) -> tuple[dict[str, list[Vulnerability]], str | None]:
    """Look up the known vulnerabilities of `pins` with pip-audit; a `VulnerabilitySource`.

    `service` is `osv`, `pypi`, `none` or a pip-audit `VulnerabilityService` instance. Returns the vulnerabilities of
    each name that has any (names without any are absent) and a problem message when the data is missing or
    incomplete. Never raises for transport or service failures: it stops at the first unreachable-service error, and
    stops asking once `total_timeout` seconds have passed (a request may still take `timeout` more). `timeout` and
    `cache_dir` configure the service built from a name; an instance brings its own. `ValueError` only for a bad
    service name.
    """
    if isinstance(service, str) and service not in SERVICES:
        raise ValueError(f"unknown vulnerability service {service!r} (expected one of {', '.join(SERVICES)})")
    if service == "none" or not pins:
        return {}, None  # before pip-audit's import, which in a worker runs `pip --version` (pip-api)
    from auditor.core.pip_audit_adapter import make_service, query

    if isinstance(service, str):
        owned = make_service(service, timeout=timeout, cache_dir=cache_dir)
        try:
            found, problem = query(pins, owned, total_timeout=total_timeout)
        finally:
            owned.session.close()  # pip-audit never closes it: its pooled sockets would leak
    else:
        found, problem = query(pins, service, total_timeout=total_timeout)
    return found, readable_problem(problem)


def readable_problem(problem: str | None) -> str | None:
    """The lookup's problem as one line for people: what is missing, why in plain words (never a resolver's or a
    socket's errno), and how to turn the lookup off."""
    if problem is None:
        return None
    unreachable = _UNREACHABLE.match(problem)
    if unreachable:
        why = unreachable["why"]
        plain = next((words or why for pattern, words in _REASONS if pattern.search(why)), None)
        because = f" ({plain})" if plain else ""
        problem = f"vulnerability data unavailable: {unreachable['where']} cannot be reached{because}"
    return f"{problem}; {TURN_OFF}"
