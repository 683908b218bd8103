"""pip-audit's vulnerability services behind `auditor.core.vulns.pip_audit_source`: queries, merged aliases, and
every failure turned into one message."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pip_audit._service import (
    ConnectionError,
    Dependency,
    EcosystemsService,
    OsvService,
    PyPIService,
    ResolvedDependency,
    ServiceError,
    SkippedDependency,
    VulnerabilityResult,
    VulnerabilityService,
)
from platformdirs import user_cache_path

from auditor.core.findings import Vulnerability

DESCRIPTION_LIMIT = 500

# Failures that mean "the service could not be reached": worth stopping at, since the next package would fail alike.
_UNREACHABLE = (ConnectionError, requests.ConnectionError, requests.Timeout)
# Everything a service can throw at us for a failed or malformed answer (a proxy's HTML page, a missing key, a bad
# version string). Only the service call is guarded by this, never our own mapping code.
_SERVICE_FAILURES = (ServiceError, requests.RequestException, OSError, ValueError, KeyError, TypeError)


def query(
    pins: Mapping[str, str], service: VulnerabilityService, *, total_timeout: float
) -> tuple[dict[str, list[Vulnerability]], str | None]:
    """Ask `service` about every pin, with the contract of `pip_audit_source` (results keyed by the pins' names)."""
    names: dict[str, str] = {canonicalize_name(name): name for name in pins}
    dependencies: list[Dependency] = []
    invalid: list[str] = []
    for name, version in pins.items():
        try:
            dependencies.append(ResolvedDependency(name=name, version=Version(version)))
        except InvalidVersion:
            invalid.append(f"{name} {version}")

    found: dict[str, list[Vulnerability]] = {}
    checked = 0
    skipped: list[str] = []
    failure: str | None = None
    deadline = time.monotonic() + total_timeout
    answers = service.query_all(iter(dependencies))
    while True:
        if time.monotonic() > deadline:
            failure = f"stopped after {total_timeout:g} s"
            break
        try:
            dependency, results = next(answers)
        except StopIteration:
            break
        except _SERVICE_FAILURES as error:
            failure = _failure_message(error, service)
            break
        if isinstance(dependency, SkippedDependency):
            skipped.append(dependency.skip_reason)
            continue
        checked += 1
        if results:
            name = names.get(dependency.canonical_name, dependency.canonical_name)
            found[name] = [_vulnerability(result) for result in _merge_aliases(results)]

    reasons = []
    if failure:
        reasons.append(failure)
    if skipped:
        reasons.append(f"{_service_address(service)} skipped {len(skipped)} of {len(pins)} ({skipped[0]})")
    if invalid:
        reasons.append(f"not a valid version: {', '.join(invalid)}")
    if not reasons:
        return found, None
    state = "unavailable" if checked == 0 else f"incomplete ({checked} of {len(pins)} distributions checked)"
    return found, f"vulnerability data {state}: {'; '.join(reasons)}"


def make_service(name: str, *, timeout: float, cache_dir: Path | None) -> OsvService | PyPIService:
    # An explicit cache directory keeps pip-audit from running `pip cache dir` in a subprocess (PyPIService) and from
    # deleting its legacy cache directory; requests takes the float timeout even though pip-audit annotates an int.
    cache = cache_dir if cache_dir is not None else user_cache_path("pip-audit", appauthor=False)
    if name == "pypi":
        return PyPIService(cache_dir=cache, timeout=timeout)  # type: ignore[arg-type]
    return OsvService(cache_dir=cache, timeout=timeout)  # type: ignore[arg-type]


def _merge_aliases(results: list[VulnerabilityResult]) -> list[VulnerabilityResult]:
    """One result per flaw: results that share an id or alias (PYSEC-…, GHSA-…, CVE-… of one flaw) become one.

    Like pip-audit's `Auditor`, a PYSEC id is preferred as the primary id; unlike it, the ids of the merged results
    are kept as aliases (pip-audit drops them), and their fix versions are united.
    """
    merged: list[VulnerabilityResult] = []
    for result in sorted(results, key=lambda r: not r.id.startswith("PYSEC")):  # stable: service order otherwise
        for index, kept in enumerate(merged):
            if kept.alias_of(result):
                merged[index] = dataclasses.replace(
                    kept,
                    aliases=(kept.aliases | result.aliases | {result.id}) - {kept.id},
                    fix_versions=sorted(set(kept.fix_versions) | set(result.fix_versions)),
                )
                break
        else:
            merged.append(result)
    return merged


def _vulnerability(result: VulnerabilityResult) -> Vulnerability:
    return Vulnerability(
        id=str(result.id),
        description=_trim(result.description),
        aliases=tuple(sorted(str(alias) for alias in result.aliases)),
        fix_versions=tuple(str(version) for version in result.fix_versions),
    )


def _trim(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """One line of at most `limit` characters; a cut one ends with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


def _service_address(service: VulnerabilityService) -> str:
    if isinstance(service, OsvService):
        parts = urlsplit(service.osv_url)
        return f"{parts.scheme}://{parts.netloc}"
    if isinstance(service, PyPIService):
        return "https://pypi.org"
    if isinstance(service, EcosystemsService):
        return "https://advisories.ecosyste.ms"
    return type(service).__name__


def _failure_message(error: BaseException, service: VulnerabilityService) -> str:
    where = _service_address(service)
    if isinstance(error, requests.Timeout) or isinstance(error.__context__, requests.Timeout):
        timeout = getattr(service, "timeout", None)  # pip-audit's services keep their request timeout here
        reason = f"no answer within {timeout:g} s" if isinstance(timeout, int | float) else "timed out"
    else:
        reason = _reason(error)
    if isinstance(error, _UNREACHABLE):
        return f"cannot reach {where} ({reason})"
    return f"{where} failed ({reason})"


def _reason(error: BaseException) -> str:
    """The most telling short text of an error chain (requests nests urllib3's actual reason two levels down)."""
    inner: object = error
    if isinstance(error, requests.ConnectionError) and error.args:
        inner = getattr(error.args[0], "reason", error.args[0])
    text = str(inner).strip()
    if not text and error.__cause__ is not None:  # pip-audit raises a bare `ServiceError from http_error`
        return _reason(error.__cause__)
    # urllib3 prefixes its messages with the connection object, e.g. "HTTPSConnection(host='…', port=443): ".
    text = re.sub(r"^<?\w+(?: object at 0x[0-9a-f]+>|\(host=[^)]*\)): ", "", text)
    text = text or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"
