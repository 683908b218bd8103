"""Local mode (`forkaudit serve` on loopback): the launch URL lets the starter's browser in; nobody else may audit.

Loopback is reachable by every user of the machine and by every page the browser opens, so "anonymous" is not the
local user: the launch token (or the session of a browser that opened the launch URL) is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.test import Client

from auditor.models import Audit
from tests.webui.reports import done_audit

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

pytestmark = pytest.mark.django_db

HOW_TO_OPEN = "Open the address <code>forkaudit serve</code> printed"


def test_the_launch_url_lets_the_browser_in_and_drops_the_token(local_mode: str) -> None:
    client = Client()

    response = client.get(f"/?token={local_mode}")

    assert response.status_code == 302
    assert response["Location"] == "/"  # the token stays neither in the history nor in a Referer
    assert "no-store" in response["Cache-Control"]
    assert '<textarea name="requirements"' in client.get("/").content.decode()


def test_the_launch_url_keeps_the_rest_of_its_address(local_mode: str) -> None:
    response = Client().get(f"/packages/?q=numpy&token={local_mode}&verdict=unsafe")

    assert response.status_code == 302
    assert response["Location"] == "/packages/?q=numpy&verdict=unsafe"


def test_a_wrong_token_lets_nobody_in_and_says_so(local_mode: str) -> None:
    client = Client()

    response = client.get("/?token=the-token-of-an-earlier-launch-0123456789")

    assert response.status_code == 403
    assert "The token in this address is not this server's" in response.content.decode()
    assert client.get("/").status_code == 403


def test_a_session_of_an_earlier_launch_is_not_let_in(launched: Client, settings: SettingsWrapper) -> None:
    settings.FORKAUDIT_LAUNCH_TOKEN = "the-token-of-the-next-launch-0123456789abcdef"

    response = launched.get("/")

    assert response.status_code == 403


def test_without_the_launch_session_the_audit_pages_say_how_to_open_the_launch_url(local_mode: str) -> None:
    audit = done_audit(None)
    client = Client()

    for path in ("/", f"/audits/{audit.pk}/", f"/audits/{audit.pk}/report.json"):
        response = client.get(path)

        assert response.status_code == 403, path
        html = response.content.decode()
        assert HOW_TO_OPEN in html
        assert "http://testserver/?token=…" in html
        assert "launch_token" in html  # the file that holds the token
        assert "pandas" not in html


def test_another_user_of_the_machine_cannot_submit_through_the_form(local_mode: str) -> None:
    # Everything a script of another user can get: a CSRF cookie and token from a page anyone may see.
    intruder = Client(enforce_csrf_checks=True)
    csrf_token = str(intruder.get("/accounts/login/").context["csrf_token"])

    response = intruder.post("/", {"requirements": "requests\n", "csrfmiddlewaretoken": csrf_token})

    assert response.status_code == 403
    assert HOW_TO_OPEN in response.content.decode()
    assert not Audit.objects.exists()


def test_the_launch_session_submits_with_the_forms_csrf_token(local_mode: str) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.get(f"/?token={local_mode}").status_code == 302
    csrf_token = str(browser.get("/").context["csrf_token"])

    response = browser.post("/", {"requirements": "requests\n", "csrfmiddlewaretoken": csrf_token})

    audit = Audit.objects.get()
    assert response["Location"] == f"/audits/{audit.pk}/"
    assert audit.owner is None
    assert "Queued" in browser.get(response["Location"]).content.decode()
    assert Client().get(response["Location"]).status_code == 403
