"""Builders of probe keys and results for the database tests."""

from __future__ import annotations

from auditor.core.cache import ProbeKey
from auditor.core.findings import (
    Finding,
    ModuleOutcome,
    ModuleStatus,
    ProbeResult,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
)


def probe_key(name: str = "numpy", version: str = "2.4.6", *, origin: str = "index", deep: bool = True) -> ProbeKey:
    return ProbeKey(
        name=name,
        version=version,
        wheel_tag="cp311-cp311-manylinux_2_17_x86_64",
        python="3.11.7",
        platform="linux-x86_64",
        probe_version="1",
        deep=deep,
        origin=origin,
    )


def native_thread(thread: str = "python", module: str = "numpy._core._multiarray_umath") -> ThreadOnImport:
    return ThreadOnImport(
        thread=thread,
        native=True,
        alive_after_import=True,
        module=module,
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
    )


def probe_result(
    name: str = "numpy", version: str = "2.4.6", findings: tuple[Finding, ...] = (), *, fork_aware: bool = False
) -> ProbeResult:
    return ProbeResult(
        distribution=name,
        version=version,
        sandbox="bwrap",
        modules=(ModuleOutcome(name=name.replace("-", "_"), status=ModuleStatus.OK, import_seconds=0.09),),
        findings=findings,
        fork_aware=fork_aware,
        seconds=1.5,
    )


def verdict_of(result: ProbeResult) -> str:
    """A stand-in for the domain's verdict rule, enough for storage tests."""
    for finding in result.findings:
        if isinstance(finding, ThreadOnImport) and finding.alive_after_import:
            return Verdict.UNSAFE
    if any(isinstance(f, SocketOnImport | ThreadOnImport) for f in result.findings):
        return Verdict.CAUTION
    return Verdict.SAFE
