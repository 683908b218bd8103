"""/accounts/login/ and /accounts/logout/ : Django's views with the web UI's template."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_login_page_renders() -> None:
    response = Client().get("/accounts/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<input type="text" name="username"' in html
    assert '<input type="password" name="password"' in html


def test_logging_in_leads_to_the_audit_form(django_user_model: type[User]) -> None:
    django_user_model.objects.create_user(username="dora", password="a long passphrase")
    client = Client()

    response = client.post("/accounts/login/", {"username": "dora", "password": "a long passphrase"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    html = client.get("/").content.decode()
    assert "<span>dora</span>" in html and "Log out" in html


def test_login_returns_to_next() -> None:
    User.objects.create_user(username="dora", password="a long passphrase")

    response = Client().post(
        "/accounts/login/", {"username": "dora", "password": "a long passphrase", "next": "/packages/"}
    )

    assert response["Location"] == "/packages/"


def test_a_wrong_password_is_shown_on_the_form() -> None:
    User.objects.create_user(username="dora", password="a long passphrase")

    response = Client().post("/accounts/login/", {"username": "dora", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_logout_leads_back_to_the_start(alice: User) -> None:
    client = Client()
    client.force_login(alice)

    response = client.post("/accounts/logout/")

    assert response["Location"] == "/"
    assert "_auth_user_id" not in client.session


@override_settings(FORKAUDIT_LOCAL_MODE=True)
def test_local_mode_shows_no_login_link() -> None:
    html = Client().get("/packages/").content.decode()

    assert "Log in" not in html
    assert "Local mode" in html
