"""Property-based tests of the whole API from its own OpenAPI schema (schemathesis, in-process over WSGI).

Generated requests, valid and invalid, with and without a valid token, must never get a 5xx, and every response
must match the status codes, content types and bodies that the schema documents. The number of examples per
operation is bounded so that the file runs in well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from auditor.core.findings import AuditReport, DistributionReport, Environment, Verdict
from auditor.models import Audit
from auditor.project.wsgi import application
from auditor.services import audit_create, audit_mark_done, audit_mark_running
from tests.api.builders import store_result
from tests.probe_results import native_thread

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = settings(
    max_examples=100,
    deadline=None,
    database=None,  # no example database written into the work tree
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def connection_kept_across_requests() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request, which would end the test's transaction;
    Django's own test client disconnects the same signal handlers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def public_results(db: None) -> None:
    """A small public index, so that search and package pages have something to answer with."""
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),), fork_aware=True)
    store_result("requests", "2.32.3")


@pytest.fixture
def token(alice: User) -> str:
    return Token.objects.create(user=alice).key


# Loaded at collection, as the running service serves it (generating it touches no database). Not through
# `schemathesis.pytest.from_fixture`: its lazy loader sets `Node._nodeid`, which pytest 9.2 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


@pytest.mark.django_db
@pytest.mark.usefixtures("public_results")
@schema.parametrize()
@EXAMPLES
def test_api_without_a_token(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.mark.django_db
@pytest.mark.usefixtures("public_results")
@schema.parametrize()
@EXAMPLES
@override_settings(FORKAUDIT_SUBMIT_RATE="10000/hour")  # fuzz submissions rather than the rate limit
def test_api_with_a_valid_token(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)


@pytest.mark.django_db
@pytest.mark.usefixtures("public_results")
def test_real_responses_match_the_schema(alice: User, token: str) -> None:
    """Responses the fuzzer cannot reach by chance: an audit it does not know the id of, each in every state."""
    headers = {"Authorization": f"Token {token}"}
    queued = audit_create(owner=alice, input_kind="requirements", input_text="pandas\n")
    done = audit_create(owner=alice, input_kind="requirements", input_text="pandas\n")
    audit_mark_running(audit_id=done.pk)
    numpy = DistributionReport(
        name="numpy",
        version="2.4.6",
        direct=False,
        verdict=Verdict.UNSAFE,
        fork_aware=False,
        paths=(("pandas", "numpy"),),
        modules=(),
        findings=(native_thread(),),
    )
    report = AuditReport(
        verdict=Verdict.UNSAFE, environment=Environment("3.11.2", "linux-x86_64", "bwrap"), distributions=(numpy,)
    )
    audit_mark_done(audit_id=done.pk, report=report)
    audit = schema["/api/v1/audits/{id}/"]["GET"]
    versions = schema["/api/v1/packages/{name}/{version}/"]["GET"]
    submit = schema["/api/v1/audits/"]["POST"]

    for audit_id in (queued.pk, done.pk):
        response = audit.Case(path_parameters={"id": str(audit_id)}).call_and_validate(headers=headers, checks=CHECKS)
        assert response.status_code == 200
    response = versions.Case(path_parameters={"name": "NumPy", "version": "2.4.6"}).call_and_validate(checks=CHECKS)
    assert response.status_code == 200
    case = submit.Case(body={"requirements": "requests\n"}, media_type="application/json")
    assert case.call_and_validate(headers=headers, checks=CHECKS).status_code == 202
    assert Audit.objects.count() == 3
