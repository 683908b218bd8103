"""Audits in every state for the web UI tests, with reports built from the domain's own dataclasses."""

from __future__ import annotations

from django.contrib.auth.models import User

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
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
