"""The API's last resorts: an unexpected exception is logged and answered as JSON, never as an HTML page."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from rest_framework import exceptions
from rest_framework.test import APIClient

from auditor import workflow
from auditor.api.errors import ERROR_CODES, exception_handler, server_error
from auditor.models import Audit

ClientFor = Callable[[User], APIClient]


@pytest.mark.django_db
def test_unexpected_exception_is_logged_and_answered_as_json_500(
    alice: User, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(workflow, "audit_submit", broken)

    with caplog.at_level(logging.ERROR, logger="auditor.api.errors"):
        response = client_for(alice).post("/api/v1/audits/", {"requirements": "requests\n"}, format="json")

    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal error: the server could not answer this request.",
        "code": "internal_error",
    }
    [record] = [r for r in caplog.records if r.name == "auditor.api.errors"]
    assert "AuditSubmitView" in record.getMessage()
    assert record.exc_info is not None and "the database fell over" in str(record.exc_info[1])


def test_request_refused_before_any_view_is_json_under_the_api(anonymous: APIClient) -> None:
    response = anonymous.get("/api/v1/packages/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


def test_crash_outside_the_api_views_is_json_under_the_api_and_a_page_elsewhere() -> None:
    api = server_error(RequestFactory().get("/api/v1/packages/"))
    page = server_error(RequestFactory().get("/admin/"))

    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert json.loads(api.content)["code"] == "internal_error"
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


# --- bodies the JSON parser cannot take ----------------------------------------------------------------------------

NESTED = "[" * 100_000 + "]" * 100_000
CSRF = "a" * 32  # a CSRF secret as Django's cookie holds it; the header may carry it as it is


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400_in_the_api_error_shape(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).generic("POST", "/api/v1/audits/", NESTED, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - the body is nested too deeply.", "code": "parse_error"}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/audits/", "/api/v1/packages/", "/api/v1/packages/six/1.0/"])
def test_deeply_nested_json_from_a_browser_session_is_a_400_on_every_endpoint(alice: User, url: str) -> None:
    # A session's CSRF check reads the body of any POST, before the view says it takes no POST.
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    client.cookies["csrftoken"] = CSRF

    response = client.generic("POST", url, NESTED, content_type="application/json", HTTP_X_CSRFTOKEN=CSRF)

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- the codes programs read ---------------------------------------------------------------------------------------


def test_a_code_from_outside_the_vocabulary_is_answered_as_its_statuses_own() -> None:
    refused = exception_handler(exceptions.PermissionDenied("No.", code="a_new_library_code"), {})

    assert (refused.status_code, refused.data) == (403, {"detail": "No.", "code": "permission_denied"})


@pytest.mark.django_db
def test_every_error_code_answered_is_in_the_vocabulary_with_its_status(
    alice: User, client_for: ClientFor, anonymous: APIClient
) -> None:
    answers = [
        anonymous.post("/api/v1/audits/", {"requirements": "six\n"}, format="json"),  # no token
        client_for(alice).post("/api/v1/audits/", {}, format="json"),  # no input
        client_for(alice).post("/api/v1/audits/", {"requirements": "six\n-e .\n"}, format="json"),  # refused line
        client_for(alice).post("/api/v1/audits/", "x", content_type="text/plain"),
        client_for(alice).delete("/api/v1/packages/"),
        anonymous.get("/api/v1/packages/no-such-package/"),
    ]

    codes = [(answer.status_code, answer.json()["code"]) for answer in answers]
    assert codes == [
        (401, "not_authenticated"),
        (400, "invalid"),
        (400, "invalid_input"),
        (415, "unsupported_media_type"),
        (405, "method_not_allowed"),
        (404, "not_found"),
    ]
    assert all(ERROR_CODES[code] == status for status, code in codes)


def test_the_schema_lists_the_error_codes_and_the_failure_codes(anonymous: APIClient) -> None:
    components = anonymous.get("/api/v1/schema/", {"format": "json"}).json()["components"]["schemas"]

    def enum(prop: dict[str, Any]) -> set[str]:  # drf-spectacular names an enum in allOf or oneOf
        [ref] = [part["$ref"] for part in prop.get("allOf", []) + prop.get("oneOf", []) if "Null" not in part["$ref"]]
        return set(components[ref.rsplit("/", 1)[1]]["enum"])

    assert enum(components["Error"]["properties"]["code"]) == set(ERROR_CODES)
    assert enum(components["Audit"]["properties"]["failure_code"]) == {code.value for code in Audit.FailureCode}
