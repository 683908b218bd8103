"""The API in local mode (`forkaudit serve` on loopback): only the launch token, or the session of a browser that
opened the launch URL (with Django's CSRF token), has local mode's rights; another user of the machine or another
site's page may not submit, nor see audits and private results without owner."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from rest_framework.test import APIClient

from auditor.core.findings import Verdict
from auditor.models import Audit
from auditor.services import audit_create, probe_record_store
from tests.probe_results import probe_key, probe_result

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

pytestmark = pytest.mark.django_db

URL = "/api/v1/audits/"
LAUNCH_TOKEN = "the-launch-token-of-the-api-tests-0123456789"
CROSS_SITE = {"HTTP_ORIGIN": "http://evil.example", "HTTP_SEC_FETCH_SITE": "cross-site"}


@pytest.fixture(autouse=True)
def local_mode(settings: SettingsWrapper) -> None:
    """Local mode as `forkaudit serve` on loopback runs it, with this launch's token."""
    settings.FORKAUDIT_LOCAL_MODE = True
    settings.FORKAUDIT_LAUNCH_TOKEN = LAUNCH_TOKEN


@pytest.fixture
def launch_token_client() -> APIClient:
    """A script of the user who started the server: `FORKAUDIT_TOKEN=$(cat <data dir>/launch_token)`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {LAUNCH_TOKEN}")
    return client


@pytest.fixture
def browser() -> APIClient:
    """The browser of the user who started the server, which opened the launch URL (CSRF checked, as browsers are)."""
    client = APIClient(enforce_csrf_checks=True)
    assert client.get(f"/?token={LAUNCH_TOKEN}").status_code == 302
    return client


def test_a_cross_site_form_post_without_the_launch_token_is_refused_and_creates_no_audit() -> None:
    # What a form on evil.example that submits itself sends: multipart, no credentials (the cookies are SameSite).
    response = APIClient().post(URL, {"requirements": "requests\n"}, format="multipart", **CROSS_SITE)

    assert response.status_code == 403
    assert response.json()["code"] == "cross_site"
    assert not Audit.objects.exists()


def test_a_submission_without_the_launch_token_is_refused_and_says_where_the_token_is() -> None:
    response = APIClient().post(URL, {"requirements": "requests\n"}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "launch token" in response.json()["detail"]
    assert "launch_token" in response.json()["detail"]  # the file's name
    assert not Audit.objects.exists()


def test_the_launch_token_submits_an_audit_without_owner_and_reads_it(launch_token_client: APIClient) -> None:
    earlier_launch = APIClient()
    earlier_launch.credentials(HTTP_AUTHORIZATION="Token the-token-of-an-earlier-launch-0123456789")
    assert earlier_launch.post(URL, {"requirements": "requests\n"}, format="json").status_code == 401

    response = launch_token_client.post(URL, {"requirements": "requests\n"}, format="json")

    assert response.status_code == 202, response.content
    assert Audit.objects.get(pk=response.json()["id"]).owner is None
    assert launch_token_client.get(response.json()["url"]).json()["status"] == "queued"


def test_the_launch_token_is_refused_from_another_sites_page(launch_token_client: APIClient) -> None:
    response = launch_token_client.post(URL, {"requirements": "requests\n"}, format="json", **CROSS_SITE)

    assert response.status_code == 403
    assert response.json()["code"] == "cross_site"
    assert not Audit.objects.exists()


def test_the_launch_token_is_refused_from_another_port_of_this_host(launch_token_client: APIClient) -> None:
    # Cookies ignore ports: a page another user serves on 127.0.0.1:9000 is the same site, not the same origin.
    response = launch_token_client.post(
        URL, {"requirements": "requests\n"}, format="json", HTTP_ORIGIN="http://testserver:9000"
    )

    assert response.status_code == 403
    assert not Audit.objects.exists()


def test_the_launch_session_must_send_the_csrf_token(browser: APIClient) -> None:
    response = browser.post(URL, {"requirements": "requests\n"}, format="multipart")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Audit.objects.exists()


def test_the_launch_session_submits_with_the_csrf_token_and_only_it_sees_the_audit(browser: APIClient) -> None:
    browser.get("/")  # the page sets the CSRF cookie, which same-origin scripts send back in a header
    csrf_token = browser.cookies["csrftoken"].value

    response = browser.post(
        URL, {"requirements": "requests\n"}, format="json", HTTP_X_CSRFTOKEN=csrf_token, HTTP_ORIGIN="http://testserver"
    )

    assert response.status_code == 202, response.content
    assert browser.get(response.json()["url"]).status_code == 200
    assert APIClient().get(response.json()["url"]).status_code == 404


def test_audits_and_private_results_without_owner_are_the_launch_tokens_only(launch_token_client: APIClient) -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="secret-internal-package\n")
    # A wheel uploaded in local mode: private, and without an owner.
    key = probe_key("private-wheel", "1.0", origin=f"upload:local:{'ab' * 32}")
    probe_record_store(key=key, result=probe_result("private-wheel", "1.0", ()), verdict=Verdict.SAFE)
    anonymous = APIClient()

    assert anonymous.get(f"{URL}{audit.pk}/").status_code == 404
    assert launch_token_client.get(f"{URL}{audit.pk}/").status_code == 200
    assert anonymous.get("/api/v1/packages/private-wheel/").status_code == 404
    assert launch_token_client.get("/api/v1/packages/private-wheel/").status_code == 200
