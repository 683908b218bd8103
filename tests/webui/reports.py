"""Audits in every state for the web UI tests, with reports built from the domain's own dataclasses."""

from __future__ import annotations

from django.contrib.auth.models import User

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
    ForkTrial,
    ModuleOutcome,
    ModuleStatus,
    RuntimeThread,
    ThreadOnImport,
    Verdict,
)
from auditor.models import Audit
from auditor.services import (
    audit_create,
    audit_distribution_complete,
    audit_graph_store,
    audit_mark_done,
    audit_mark_failed,
    audit_mark_running,
)


def numpy_thread(thread: str = "python", module: str = "numpy._core._multiarray_umath") -> ThreadOnImport:
    return ThreadOnImport(
        thread=thread,
        native=True,
        alive_after_import=True,
        module=module,
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
    )


def pandas_report(*, thread: str = "python", suppressed: str | None = None) -> AuditReport:
    """pandas (direct, safe) → numpy (unsafe: a native OpenBLAS thread), and requests (direct, caution)."""
    numpy = DistributionReport(
        name="numpy",
        version="2.4.6",
        direct=False,
        verdict=Verdict.UNSAFE,
        fork_aware=False,
        paths=(("pandas", "numpy"),),
        modules=(
            ModuleOutcome(name="numpy", status=ModuleStatus.OK, import_seconds=0.09),
            ModuleOutcome(
                name="numpy.f2py.tests", status=ModuleStatus.IMPORT_ERROR, top_level=False, error="No module named x"
            ),
        ),
        findings=(numpy_thread(thread),),
        suppressed=suppressed,
    )
    pandas = DistributionReport(
        name="pandas",
        version="2.2.3",
        direct=True,
        verdict=Verdict.SAFE,
        fork_aware=False,
        paths=(("pandas",),),
        modules=(ModuleOutcome(name="pandas", status=ModuleStatus.OK, import_seconds=0.61),),
        findings=(),
        cached=True,
    )
    requests = DistributionReport(
        name="requests",
        version="2.32.3",
        direct=True,
        verdict=Verdict.CAUTION,
        fork_aware=True,
        paths=(("requests",),),
        modules=(ModuleOutcome(name="requests", status=ModuleStatus.OK, import_seconds=0.05),),
        findings=(
            RuntimeThread(
                call="threading.Thread", scope="function", module="requests.pool", file="requests/pool.py", line=42
            ),
        ),
    )
    return AuditReport(
        verdict=Verdict.UNSAFE,
        environment=Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap"),
        distributions=(pandas, requests, numpy),
    )


NUMPY_MODULES = 133  # as many as numpy 2's deep probe imports
OPENBLAS_FILE = "numpy.libs/libscipy_openblas64_-ff651d7f.so"
DEEP_PATH = ("my-application-server", "scientific-toolkit-extras", "data-frame-helpers", "pandas", "numpy")


def numpy_modules(count: int = NUMPY_MODULES) -> tuple[ModuleOutcome, ...]:
    names = ["numpy", "numpy.linalg", "numpy.linalg.lapack_lite", "numpy.linalg.linalg"]
    names += [f"numpy._core.tests.test_casting_floatingpoint_errors_{index:03}" for index in range(count - 4)]
    return tuple(
        ModuleOutcome(name=name, status=ModuleStatus.OK, import_seconds=0.001 * index, top_level=name == "numpy")
        for index, name in enumerate(names)
    )


def openblas_report(safe: int = 30) -> AuditReport:
    """What a real deep audit of a data-science application looks like: numpy (pulled in through four others)
    leaves an OpenBLAS thread that survives a fork, 133 modules; scipy's OpenBLAS thread is stopped by its library at
    fork (caution); `safe` more distributions are safe."""
    numpy = DistributionReport(
        name="numpy",
        version="2.4.6",
        direct=False,
        verdict=Verdict.UNSAFE,
        fork_aware=False,
        paths=(DEEP_PATH, ("my-application-server", "numpy")),
        modules=numpy_modules(),
        findings=(
            ThreadOnImport(
                thread="python",
                native=True,
                alive_after_import=True,
                module="numpy._core._multiarray_umath",
                mitigation={
                    "env": {"OMP_NUM_THREADS": "1"},
                    "verified": True,
                    "alternatives": [{"OPENBLAS_NUM_THREADS": "1"}],
                },
                library="OpenBLAS",
                library_file=OPENBLAS_FILE,
                at_fork="survived",
            ),
            ForkTrial(child="ok", stopped=0, survived=1, seconds=0.2),
        ),
    )
    scipy = DistributionReport(
        name="scipy",
        version="1.15.2",
        direct=False,
        verdict=Verdict.CAUTION,
        fork_aware=True,
        paths=(("my-application-server", "scientific-toolkit-extras", "scipy"),),
        modules=(ModuleOutcome(name="scipy", status=ModuleStatus.OK, import_seconds=0.2),),
        findings=(
            ThreadOnImport(
                thread="python",
                native=True,
                alive_after_import=True,
                module="scipy.linalg._fblas",
                library="OpenBLAS",
                library_file="scipy.libs/libscipy_openblas-68440149.so",
                at_fork="stopped",
            ),
            ForkTrial(child="ok", stopped=1, survived=0, seconds=0.2),
        ),
    )
    others = tuple(
        DistributionReport(
            name=f"safe-dependency-number-{index:02}",
            version="1.0.0",
            direct=index == 0,
            verdict=Verdict.SAFE,
            fork_aware=False,
            paths=(("my-application-server", f"safe-dependency-number-{index:02}"),),
            modules=(ModuleOutcome(name=f"safe_dependency_{index:02}", status=ModuleStatus.OK, import_seconds=0.01),),
            findings=(),
            cached=True,
        )
        for index in range(safe)
    )
    return AuditReport(
        verdict=Verdict.UNSAFE,
        environment=Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap"),
        distributions=(*others, scipy, numpy),
    )


def queued_audit(owner: User | None, text: str = "pandas==2.2.3\nrequests\n") -> Audit:
    return audit_create(owner=owner, input_kind="requirements", input_text=text)


def running_audit(owner: User | None, *, done: int = 1, total: int = 4) -> Audit:
    audit = queued_audit(owner)
    audit_mark_running(audit_id=audit.pk)
    pins = {f"dist-{index}": "1.0" for index in range(total)}
    audit_graph_store(audit_id=audit.pk, graph={"direct": ["dist-0"], "edges": [], "pins": pins})
    for distribution in audit.distributions.all()[:done]:
        audit_distribution_complete(audit_distribution_id=distribution.pk, probe=None, cached=True)
    audit.refresh_from_db()
    return audit


def done_audit(owner: User | None, report: AuditReport | None = None) -> Audit:
    audit = queued_audit(owner)
    audit_mark_running(audit_id=audit.pk)
    audit_mark_done(audit_id=audit.pk, report=report or pandas_report())
    audit.refresh_from_db()
    return audit


def failed_audit(owner: User | None, error: str) -> Audit:
    audit = queued_audit(owner)
    audit_mark_failed(audit_id=audit.pk, error=error)
    audit.refresh_from_db()
    return audit
