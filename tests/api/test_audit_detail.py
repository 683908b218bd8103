"""GET /api/v1/audits/{id}/: status, progress and report, for the owner and staff only."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from auditor.core.findings import AuditReport, DistributionReport, Environment, Verdict
from auditor.models import Audit
from auditor.services import (
    audit_create,
    audit_distribution_complete,
    audit_graph_store,
    audit_mark_done,
    audit_mark_failed,
    audit_mark_running,
)

ClientFor = Callable[[User], APIClient]
pytestmark = pytest.mark.django_db


def queued_audit(owner: User | None) -> Audit:
    return audit_create(owner=owner, input_kind="requirements", input_text="pandas\n")


def url(audit_id: object) -> str:
    return f"/api/v1/audits/{audit_id}/"


def report() -> AuditReport:
    numpy = DistributionReport(
        name="numpy",
        version="2.4.6",
        direct=False,
        verdict=Verdict.UNSAFE,
        fork_aware=False,
        paths=(("pandas", "numpy"),),
        modules=(),
        findings=(),
    )
    return AuditReport(
        verdict=Verdict.UNSAFE,
        environment=Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap"),
        distributions=(numpy,),
    )


def test_owner_sees_a_queued_audit_without_report(alice: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)

    response = client_for(alice).get(url(audit.pk))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(audit.pk)
    assert body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": 0}
    assert (body["verdict"], body["report"], body["error"], body["finished"]) == (None, None, None, None)
    assert body["url"] == f"http://testserver{url(audit.pk)}"
    assert body["web_url"] == f"http://testserver/audits/{audit.pk}/"


def test_running_audit_shows_its_progress(alice: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)
    audit_mark_running(audit_id=audit.pk)
    audit_graph_store(
        audit_id=audit.pk,
        graph={"direct": ["pandas"], "edges": [["pandas", "numpy"]], "pins": {"pandas": "2.2.3", "numpy": "2.4.6"}},
    )
    audit_distribution_complete(audit_distribution_id=audit.distributions.first().pk, probe=None, cached=True)

    body = client_for(alice).get(url(audit.pk)).json()

    assert body["status"] == "running"
    assert body["progress"] == {"done": 1, "total": 2}
    assert body["started"] is not None


def test_done_audit_has_its_verdict_and_report(alice: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)
    audit_mark_running(audit_id=audit.pk)
    audit_mark_done(audit_id=audit.pk, report=report())

    body = client_for(alice).get(url(audit.pk)).json()

    assert (body["status"], body["verdict"]) == ("done", "unsafe")
    assert body["report"] == report().to_dict()
    assert body["report"]["schema"] == "forkaudit-report/1"
    assert body["finished"] is not None


def test_failed_audit_has_its_error_and_failure_code(alice: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)
    audit_mark_failed(
        audit_id=audit.pk,
        error="the requirements cannot be resolved:\nno version of nothing-here",
        code=Audit.FailureCode.RESOLUTION_FAILED,
    )

    body = client_for(alice).get(url(audit.pk)).json()

    assert (body["status"], body["report"]) == ("failed", None)
    assert body["error"].startswith("the requirements cannot be resolved")
    assert body["failure_code"] == "resolution-failed"


def test_an_audit_that_has_not_failed_has_no_failure_code(alice: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)

    body = client_for(alice).get(url(audit.pk)).json()

    assert (body["status"], body["error"], body["failure_code"]) == ("queued", None, None)


def test_another_user_gets_the_same_404_as_for_an_unknown_or_malformed_id(
    alice: User, bob: User, client_for: ClientFor
) -> None:
    audit = queued_audit(alice)
    bob_client = client_for(bob)

    answers = [bob_client.get(url(audit.pk)), bob_client.get(url(uuid.uuid4())), bob_client.get(url("not-a-uuid"))]

    assert [r.status_code for r in answers] == [404, 404, 404]
    assert [r.json() for r in answers] == [{"detail": "Audit not found.", "code": "not_found"}] * 3


def test_staff_see_every_users_audit(alice: User, sam: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)

    response = client_for(sam).get(url(audit.pk))

    assert response.status_code == 200
    assert response.json()["id"] == str(audit.pk)


def test_anonymous_viewer_gets_404_not_401(alice: User, anonymous: APIClient) -> None:
    audit = queued_audit(alice)

    response = anonymous.get(url(audit.pk))

    assert response.status_code == 404
    assert response.json()["detail"] == "Audit not found."


def test_session_login_works_like_a_token(alice: User, charlie: User) -> None:
    audit = queued_audit(alice)
    browser = APIClient()

    browser.force_login(charlie)
    assert browser.get(url(audit.pk)).status_code == 404
    browser.force_login(alice)
    assert browser.get(url(audit.pk)).status_code == 200


def test_bad_token_is_401_even_for_a_read(alice: User, anonymous: APIClient) -> None:
    audit = queued_audit(alice)
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    response = anonymous.get(url(audit.pk))

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_audit_without_owner_is_hidden_outside_local_mode(
    anonymous: APIClient, sam: User, client_for: ClientFor
) -> None:
    audit = queued_audit(None)

    assert anonymous.get(url(audit.pk)).status_code == 404
    assert client_for(sam).get(url(audit.pk)).status_code == 404
    launch_token = "the-launch-token-of-the-detail-tests-0123456789"
    with override_settings(FORKAUDIT_LOCAL_MODE=True, FORKAUDIT_LAUNCH_TOKEN=launch_token):
        assert anonymous.get(url(audit.pk)).status_code == 404  # another local user, or another site
        anonymous.credentials(HTTP_AUTHORIZATION=f"Token {launch_token}")
        assert anonymous.get(url(audit.pk)).status_code == 200


def test_delete_is_405(alice: User, client_for: ClientFor) -> None:
    audit = queued_audit(alice)

    response = client_for(alice).delete(url(audit.pk))

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert Audit.objects.filter(pk=audit.pk).exists()
