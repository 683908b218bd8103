"""GET /api/v1/audits/{id}/ leads with the culprit and the fix: `headline` and `fix`, once the audit is done."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
    ProcessOnImport,
    ThreadOnImport,
    Verdict,
)
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


def test_the_report_shows_no_server_path(alice: User, client_for: ClientFor) -> None:
    work = "/dev/shm/forkaudit-0/work/e034fa279bac498fa364b726eeb27a6d"
    report = numpy_report()
    process = ProcessOnImport(
        command=f"{work}/env/bin/python -c pass",
        alive_after_import=True,
        module="numpy",
        stack=("/root/.pyenv/versions/3.11.7/lib/python3.11/subprocess.py:1821 in _execute_child",),
    )
    numpy = dataclasses.replace(report.distributions[0], findings=(process,))
    audit = audit_create(owner=alice, input_kind="requirements", input_text="pandas\n")
    audit_mark_running(audit_id=audit.pk)
    audit_mark_done(audit_id=audit.pk, report=dataclasses.replace(report, distributions=(numpy,)))

    body = client_for(alice).get(f"/api/v1/audits/{audit.pk}/").json()

    (finding,) = body["report"]["distributions"][0]["findings"]
    assert (finding["command"], finding["stack"]) == (
        "python -c pass",
        ["python3.11/subprocess.py:1821 in _execute_child"],
    )
