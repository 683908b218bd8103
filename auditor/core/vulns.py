"""Known vulnerabilities of the pinned distributions (DESIGN.md §2, §8: the `vulnerability` finding).

The port is `VulnerabilitySource`: pins (canonical name -> version) in, the vulnerabilities of each name plus an
optional problem message out. A source never raises for a transport or service failure: the audit goes on without
vulnerability data and reports the message among its errors. `pip_audit_source` is the adapter over pip-audit's
services (OSV by default, or PyPI's JSON API); the environment variable named by `OFFLINE_ENV` picks the service, and
its value `none` turns vulnerability data off without touching the network. pip-audit itself (with requests and
pip-api, half a second) is imported only when a service is asked: an audit whose results are all known needs none.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, wait
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.core.background import in_background
from auditor.core.findings import Vulnerability

if TYPE_CHECKING:
    from pip_audit._service import VulnerabilityService

VulnerabilitySource = Callable[[dict[str, str]], tuple[dict[str, list[Vulnerability]], str | None]]

OFFLINE_ENV = "FORKAUDIT_VULNERABILITY_SERVICE"
SERVICES = ("osv", "pypi", "none")
DEFAULT_SERVICE = "osv"


def configured_service(environ: Mapping[str, str] | None = None) -> str:
    """The service named by `OFFLINE_ENV` in `environ` (default `os.environ`), `osv` when unset.

    Raises `ValueError` naming the variable for any other value than those of `SERVICES`, so that a typo fails loudly
    at start-up instead of silently auditing without vulnerability data.
    """
    value = (os.environ if environ is None else environ).get(OFFLINE_ENV, "").strip().lower() or DEFAULT_SERVICE
    if value not in SERVICES:
        raise ValueError(f"{OFFLINE_ENV}={value!r} is not one of {', '.join(SERVICES)}")
    return value


def import_in_background(after: Future[object] | None = None) -> Future[object]:
    """Start importing pip-audit in a daemon thread, once `after` is done: its import runs `pip --version` in a
    subprocess (pip-api), a quarter of a second better spent while uv resolves than after it. Wait for the future
    before exiting: a pip cut off mid-way prints a traceback of its own."""

    def run() -> object:
        if after is not None:
            wait([after])  # two threads importing at once can deadlock on a circular import between them
        return importlib.import_module("auditor.core.pip_audit_adapter")

    return in_background(run)


def pip_audit_source(
    pins: dict[str, str],
    *,
    service: str | VulnerabilityService | None = None,
    timeout: float = 15,
    total_timeout: float = 120,
    cache_dir: Path | None = None,
) -> tuple[dict[str, list[Vulnerability]], str | None]:
    """Look up the known vulnerabilities of `pins` with pip-audit; a `VulnerabilitySource`.

    `service` is `osv`, `pypi`, `none` or a pip-audit `VulnerabilityService` instance; `None` reads `OFFLINE_ENV`
    (see `configured_service`). Returns the vulnerabilities of each name that has any (names without any are absent)
    and a problem message when the data is missing or incomplete. Never raises for transport or service failures: it
    stops at the first unreachable-service error, and stops asking once `total_timeout` seconds have passed (a
    request may still take `timeout` more). `timeout` and `cache_dir` configure the service built from a name; an
    instance brings its own. `ValueError` only for a bad service name.
    """
    from auditor.core.pip_audit_adapter import make_service, query

    if service is None:
        service = configured_service()
    if isinstance(service, str):
        if service not in SERVICES:
            raise ValueError(f"unknown vulnerability service {service!r} (expected one of {', '.join(SERVICES)})")
        if service == "none" or not pins:
            return {}, None
        owned = make_service(service, timeout=timeout, cache_dir=cache_dir)
        try:
            return query(pins, owned, total_timeout=total_timeout)
        finally:
            owned.session.close()  # pip-audit never closes it: its pooled sockets would leak
    if not pins:
        return {}, None
    return query(pins, service, total_timeout=total_timeout)
