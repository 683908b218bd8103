"""A task whose workflow step raises what it did not expect fails its audit, with a reason the owner can read.

The tasks are called as plain functions. The steps raise for real, on audits whose records are corrupt (what a bug or
a hand-edited database leaves), except where the point is the task's retry policy.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from auditor import claims, services, tasks, workflow
from auditor.core.inputs import InputError
from auditor.core.pipeline import AuditFailed
from auditor.core.probe.sandbox import SandboxUnavailable
from auditor.core.resolve import ResolutionError
from auditor.models import Audit, AuditDistribution
from tests.service.conftest import base_environment, wait_until

pytestmark = pytest.mark.django_db

INTERNAL_ERROR = "the audit could not be completed: an internal error"


def api_audit(user: User, audit: Audit) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    response = client.get(f"/api/v1/audits/{audit.pk}/")
    assert response.status_code == 200, response.content
    return response.json()


def audit_without_uploads(owner: User) -> Audit:
    """A queued audit whose uploaded requirements are gone: preparing it raises IndexError (it reads the first)."""
    return services.audit_create(owner=owner, input_kind="requirements", input_text="fa-lost\n")


def running_audit_with_a_corrupt_graph(owner: User) -> Audit:
    """A running audit with two pending distributions, whose stored graph has lost its edges: analysing any of its
    distributions raises KeyError."""
    audit = services.audit_create(owner=owner, input_kind="requirements", input_text="fa-one\nfa-two\n")
    services.audit_mark_running(audit_id=audit.pk)
    graph = {"direct": ["fa-one", "fa-two"], "edges": [], "pins": {"fa-one": "1", "fa-two": "1"}}
    services.audit_graph_store(audit_id=audit.pk, graph=graph)
    Audit.objects.filter(pk=audit.pk).update(graph={"direct": graph["direct"], "pins": graph["pins"]})
    return audit


def test_a_preparation_that_raises_fails_the_audit_with_the_error(alice: User, caplog: pytest.LogCaptureFixture):
    audit = audit_without_uploads(alice)

    with caplog.at_level(logging.ERROR, logger="auditor.workflow"):
        tasks.prepare_audit(str(audit.pk))

    audit.refresh_from_db()
    reason = f"{INTERNAL_ERROR} (IndexError: list index out of range)"
    assert (audit.status, audit.error) == (Audit.Status.FAILED, reason)
    assert audit.finished is not None
    body = api_audit(alice, audit)
    assert (body["status"], body["error"], body["report"]) == ("failed", reason, None)
    assert body["failure_code"] == "internal"
    # The operator's log has the traceback; the owner's reason has none.
    [record] = [r for r in caplog.records if r.name == "auditor.workflow"]
    assert record.exc_info is not None and record.exc_info[0] is IndexError
    assert str(audit.pk) in record.getMessage()


def test_an_analysis_that_raises_fails_the_audit_and_its_other_distributions_stop(alice: User):
    audit = running_audit_with_a_corrupt_graph(alice)
    first, second = AuditDistribution.objects.filter(audit=audit).order_by("name")

    tasks.analyse_distribution(str(first.pk))
    tasks.analyse_distribution(str(second.pk))  # finds its audit failed: does nothing

    audit.refresh_from_db()
    reason = f"{INTERNAL_ERROR} (KeyError: 'edges')"
    assert (audit.status, audit.error) == (Audit.Status.FAILED, reason)
    assert set(AuditDistribution.objects.filter(audit=audit).values_list("status", flat=True)) == {"pending"}
    body = api_audit(alice, audit)
    assert (body["status"], body["error"]) == ("failed", reason)


def test_an_analysis_that_meets_a_probe_in_progress_is_retried_not_failed(alice: User, monkeypatch: pytest.MonkeyPatch):
    audit = running_audit_with_a_corrupt_graph(alice)
    distribution = AuditDistribution.objects.filter(audit=audit).first()

    def probe_in_progress(*, audit_distribution_id: int) -> None:
        raise claims.ProbeInProgress("fa-one")

    monkeypatch.setattr(workflow, "audit_analyse", probe_in_progress)
    # Called as a plain function, Celery's retry raises the exception it was given.
    with pytest.raises(claims.ProbeInProgress):
        tasks.analyse_distribution(str(distribution.pk))

    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.RUNNING


def test_an_unexpected_error_of_a_distribution_that_is_gone_fails_no_audit(alice: User):
    audit = audit_without_uploads(alice)

    assert workflow.audit_distribution_fail_unexpectedly(audit_distribution_id=10**9, error=ValueError("x")) is None
    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.QUEUED


def test_an_error_that_says_nothing_is_named_by_its_type(alice: User):
    audit = audit_without_uploads(alice)

    assert workflow.audit_fail_unexpectedly(audit_id=audit.pk, error=RuntimeError())

    assert Audit.objects.get(pk=audit.pk).error == f"{INTERNAL_ERROR} (RuntimeError)"


@pytest.mark.django_db(transaction=True)
def test_check_exits_3_for_an_audit_that_failed_on_an_unexpected_error(alice: User, live_server: Any, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fa-check-failed==1.0\n")
    env = base_environment(FORKAUDIT_TOKEN=Token.objects.create(user=alice).key)
    command = [sys.executable, "-m", "auditor.cli", "check", "-r", str(requirements), "--server", live_server.url]
    check = subprocess.Popen(
        [*command, "--poll", "0.2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: Audit.objects.filter(owner=alice).exists(), timeout=60, what="the submission")
        audit = Audit.objects.get(owner=alice)
        audit.uploads.all().delete()  # what makes its preparation raise
        tasks.prepare_audit(str(audit.pk))
        stdout, stderr = check.communicate(timeout=60)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()

    assert check.returncode == 3, stderr
    assert f"the server could not complete the audit: {INTERNAL_ERROR} (IndexError: " in stderr
    assert "Traceback" not in stderr


def test_an_audit_whose_requirements_cannot_be_resolved_leaves_no_work_directory(
    alice: User, settings, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    settings.FORKAUDIT_WORK_DIR = str(tmp_path / "work")
    monkeypatch.setenv("UV_OFFLINE", "1")  # resolved from the cache only: the package is in none
    audit = workflow.audit_submit(owner=alice, requirements=[("requirements.txt", b"fa-nowhere-to-be-found==1.0\n")])

    workflow.audit_prepare(audit_id=audit.pk)

    audit.refresh_from_db()
    assert audit.status == Audit.Status.FAILED
    assert "cannot be resolved" in audit.error
    assert audit.failure_code == Audit.FailureCode.RESOLUTION_FAILED
    assert not (tmp_path / "work" / str(audit.pk)).exists()  # a work directory may be in memory (/dev/shm)


def test_an_audit_whose_stored_input_is_refused_fails_as_bad_input(alice: User):
    audit = workflow.audit_submit(owner=alice, requirements=[("requirements.txt", b"six\n")])
    audit.uploads.update(content=b"six\nnot a requirement!\n")  # what the worker reads no longer parses

    workflow.audit_prepare(audit_id=audit.pk)

    audit.refresh_from_db()
    assert (audit.status, audit.failure_code) == (Audit.Status.FAILED, Audit.FailureCode.BAD_INPUT)
    assert "requirements.txt:2" in audit.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("requirements.txt:1: bad"), "bad-input"),
        (ResolutionError("no version of six"), "resolution-failed"),
        (AuditFailed("could not create the audit environment"), "install-failed"),
        (SandboxUnavailable("bwrap is not installed"), "sandbox-unavailable"),
        (OSError(28, "No space left on device"), "internal"),
    ],
)
def test_a_failure_is_coded_by_the_step_that_raised_it(error: Exception, code: str):
    assert workflow._failure_code(error) == code
