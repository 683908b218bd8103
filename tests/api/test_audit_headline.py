"""GET /api/v1/audits/{id}/ leads with the culprit and the fix: `headline` and `fix`, once the audit is done."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from auditor.core.findings import AuditReport, DistributionReport, Environment, ThreadOnImport, Verdict
from auditor.services import audit_create, audit_mark_done, audit_mark_running

ClientFor = Callable[[User], APIClient]
pytestmark = pytest.mark.django_db


def numpy_report() -> AuditReport:
    thread = ThreadOnImport(
        thread="python",
        native=True,
        alive_after_import=True,
        module="numpy._core._multiarray_umath",
        library="OpenBLAS",
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True, "alternatives": [{"OMP_NUM_THREADS": "1"}]},
    )
    numpy = DistributionReport(
        name="numpy",
        version="2.4.6",
        direct=False,
        verdict=Verdict.UNSAFE,
        fork_aware=False,
        paths=(("pandas", "numpy"),),
        modules=(),
        findings=(thread,),
    )
    return AuditReport(
        verdict=Verdict.UNSAFE,
        environment=Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap"),
        distributions=(numpy,),
    )


def test_a_done_audit_names_the_culprit_and_the_fix(alice: User, client_for: ClientFor) -> None:
    audit = audit_create(owner=alice, input_kind="requirements", input_text="pandas\n")
    audit_mark_running(audit_id=audit.pk)
    audit_mark_done(audit_id=audit.pk, report=numpy_report())

    body = client_for(alice).get(f"/api/v1/audits/{audit.pk}/").json()

    assert body["headline"] == (
        "numpy 2.4.6 (pulled in by pandas) leaves an OpenBLAS thread running after import — "
        "fix: OPENBLAS_NUM_THREADS=1 (verified)"
    )
    assert body["fix"]["env"] == {"OPENBLAS_NUM_THREADS": "1"}
    assert (body["fix"]["fixed"], body["fix"]["unfixed"]) == (["numpy"], [])
    assert (
        body["fix"]["steps"][0] == "Set OPENBLAS_NUM_THREADS=1 (verified by forkaudit: it stops the threads of numpy)."
    )
    assert "`--preload`" in body["fix"]["steps"][1]
    assert body["report"] == numpy_report().to_dict()  # unchanged


def test_an_audit_that_is_not_done_has_neither(alice: User, client_for: ClientFor) -> None:
    audit = audit_create(owner=alice, input_kind="requirements", input_text="pandas\n")

    body = client_for(alice).get(f"/api/v1/audits/{audit.pk}/").json()

    assert (body["headline"], body["fix"]) == (None, None)


def test_the_schema_documents_both(client_for: ClientFor, alice: User) -> None:
    schema = client_for(alice).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    audit = schema["components"]["schemas"]["Audit"]["properties"]
    assert audit["headline"]["type"] == "string" and audit["headline"]["nullable"] is True
    assert "culprit" in audit["headline"]["description"]
    fix = schema["components"]["schemas"]["Fix"]["properties"]
    assert set(fix) == {"env", "fixed", "unfixed", "steps"}
