"""`forkaudit token create NAME`, and tokens in the admin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from auditor.cli import main, token


@pytest.fixture
def in_test_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command on the test database (already migrated), not on an embedded one."""
    monkeypatch.setattr(token, "setup_django", lambda: None)


@pytest.mark.django_db
def test_creates_the_user_without_usable_password_and_prints_only_the_key(
    in_test_database: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "ci-bot"]) == 0

    out, err = capsys.readouterr()
    user = User.objects.get(username="ci-bot")
    assert out == f"{Token.objects.get(user=user).key}\n"
    assert re.fullmatch(r"[0-9a-f]{40}\n", out)
    assert err == ""
    assert user.is_active and not user.has_usable_password()


@pytest.mark.django_db
def test_printed_token_authenticates_api_requests(in_test_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "create", "ci-bot"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {capsys.readouterr().out.strip()}")

    response = client.post("/api/v1/audits/", {"requirements": "requests\n"}, format="json")

    assert response.status_code == 202


@pytest.mark.django_db
def test_existing_user_gets_a_new_token_and_keeps_its_password(
    alice: User, in_test_database: None, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.set_password("correct horse battery staple")
    alice.save()
    old = Token.objects.create(user=alice).key

    main(["token", "create", "alice"])

    new = capsys.readouterr().out.strip()
    assert new != old
    assert list(Token.objects.filter(user=alice).values_list("key", flat=True)) == [new]
    alice.refresh_from_db()
    assert alice.check_password("correct horse battery staple")


@pytest.mark.django_db
def test_deactivated_user_gets_no_token(
    alice: User, in_test_database: None, capsys: pytest.CaptureFixture[str]
) -> None:
    alice.is_active = False
    alice.save()

    assert main(["token", "create", "alice"]) == 2
    assert "deactivated" in capsys.readouterr().err
    assert not Token.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["two words", "semi;colon", "x" * 151])
def test_invalid_user_name_is_bad_usage(name: str, in_test_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", name]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "user name" in err
    assert not User.objects.filter(username=name).exists()


def test_command_prints_nothing_but_the_key_on_a_fresh_data_directory(tmp_path: Path) -> None:
    env = dict(os.environ, FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    env.pop("DATABASE_URL", None)

    result = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "token", "create", "ci-bot"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{40}\n", result.stdout)
    assert result.stderr == ""


@pytest.mark.django_db
def test_tokens_are_managed_in_the_admin(alice: User, django_user_model: type[User]) -> None:
    Token.objects.create(user=alice)
    admin = django_user_model.objects.create_superuser(username="root", password="x")
    browser = APIClient()
    browser.force_login(admin)

    response = browser.get("/admin/authtoken/tokenproxy/")

    assert response.status_code == 200
    assert b"alice" in response.content
