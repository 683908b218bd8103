"""/ : the new-audit form (API field names), submission, and the viewer's recent audits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from auditor.models import Audit, AuditUpload
from tests.webui.reports import done_audit, queued_audit
from tests.wheelfactory import build_wheel

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db


def text_file(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


def test_form_uses_the_api_field_names(client_for: ClientFor, alice: User) -> None:
    response = client_for(alice).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert '<textarea name="requirements"' in html
    assert 'name="requirements_file"' in html and 'name="wheels"' in html
    assert html.count("multiple") >= 2
    assert 'type="checkbox" name="shallow"' in html
    assert "csrfmiddlewaretoken" in html


def test_every_page_has_the_navigation(client_for: ClientFor, alice: User) -> None:
    html = client_for(alice).get("/").content.decode()

    assert 'href="/" aria-current="page">New audit</a>' in html
    assert 'href="/packages/">Packages</a>' in html
    assert 'href="/api/v1/docs/">API docs</a>' in html


def test_requirements_text_queues_an_audit_and_redirects_to_it(client_for: ClientFor, alice: User) -> None:
    response = client_for(alice).post("/", {"requirements": "requests==2.32.3\n"})

    audit = Audit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/audits/{audit.pk}/"
    assert (audit.owner, audit.status, audit.input_kind) == (alice, "queued", "requirements")
    assert audit.input_text == "requests==2.32.3\n"
    assert audit.options["shallow"] is False


def test_shallow_box_is_kept_in_the_options(client_for: ClientFor, alice: User) -> None:
    client_for(alice).post("/", {"requirements": "requests\n", "shallow": "on"})

    assert Audit.objects.get().options["shallow"] is True


def test_requirements_files_are_stored_with_the_first_as_main(client_for: ClientFor, alice: User) -> None:
    files = [text_file("main.txt", "-r extra.txt\nrequests\n"), text_file("extra.txt", "idna\n")]

    response = client_for(alice).post("/", {"requirements_file": files})

    assert response.status_code == 302, response.content
    audit = Audit.objects.get()
    assert audit.input_text == "-r extra.txt\nrequests\n"
    assert list(AuditUpload.objects.values_list("filename", "kind")) == [
        ("main.txt", "requirements"),
        ("extra.txt", "requirements"),
    ]


def test_wheels_queue_a_wheel_audit(client_for: ClientFor, alice: User, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "demo", {"demo/__init__.py": "VALUE = 1\n"})
    upload = SimpleUploadedFile(wheel.name, wheel.read_bytes(), content_type="application/octet-stream")

    response = client_for(alice).post("/", {"wheels": [upload]})

    assert response.status_code == 302, response.content
    audit = Audit.objects.get()
    assert (audit.input_kind, audit.input_text) == ("wheels", '["demo-1.0-py3-none-any.whl"]')


def test_index_url_line_reshows_the_form_with_file_and_line(client_for: ClientFor, alice: User) -> None:
    text = "requests\n--index-url https://evil.example/simple\n"

    response = client_for(alice).post("/", {"requirements": text})

    assert response.status_code == 400
    html = response.content.decode()
    assert "requirements.txt:2: --index-url is not allowed" in html
    assert 'role="alert"' in html
    assert "--index-url https://evil.example/simple\n</textarea>" in html  # what was typed is kept
    assert not Audit.objects.exists()


def test_a_file_that_is_not_a_wheel_is_refused_on_the_form(client_for: ClientFor, alice: User) -> None:
    upload = SimpleUploadedFile("demo-1.0-py3-none-any.whl", b"not a zip", content_type="application/octet-stream")

    response = client_for(alice).post("/", {"wheels": [upload]})

    assert response.status_code == 400
    assert "demo-1.0-py3-none-any.whl" in response.content.decode()
    assert not Audit.objects.exists()


def test_no_input_is_refused(client_for: ClientFor, alice: User) -> None:
    response = client_for(alice).post("/", {"requirements": "\r\n"})

    assert response.status_code == 400
    assert "Paste requirements, or choose requirements files or wheels." in response.content.decode()


def test_two_kinds_of_input_are_refused(client_for: ClientFor, alice: User) -> None:
    response = client_for(alice).post(
        "/", {"requirements": "requests\n", "requirements_file": [text_file("r.txt", "idna\n")]}
    )

    assert response.status_code == 400
    assert "Give only one kind of input" in response.content.decode()
    assert not Audit.objects.exists()


@override_settings(FORKAUDIT_MAX_UPLOAD_BYTES=2048)
def test_an_upload_over_the_limit_is_refused(client_for: ClientFor, alice: User) -> None:
    response = client_for(alice).post("/", {"requirements_file": [text_file("big.txt", "requests\n" * 1000)]})

    assert response.status_code == 413
    assert "larger than 2,048 bytes" in response.content.decode()
    assert not Audit.objects.exists()


@override_settings(FORKAUDIT_SUBMIT_RATE="2/hour")
def test_submissions_share_the_apis_rate_limit(client_for: ClientFor, alice: User) -> None:
    client = client_for(alice)
    assert client.post("/api/v1/audits/", {"requirements": "idna\n"}).status_code == 202
    assert client.post("/", {"requirements": "requests\n"}).status_code == 302

    response = client.post("/", {"requirements": "requests\n"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many audits submitted: try again in" in response.content.decode()
    assert Audit.objects.count() == 2


def test_a_post_without_csrf_token_is_refused(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/", {"requirements": "requests\n"})

    assert response.status_code == 403
    assert not Audit.objects.exists()


def test_a_post_with_the_forms_csrf_token_is_accepted(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    token = client.get("/").context["csrf_token"]

    response = client.post("/", {"requirements": "requests\n", "csrfmiddlewaretoken": str(token)})

    assert response.status_code == 302
    assert Audit.objects.count() == 1


@override_settings(FORKAUDIT_LOCAL_MODE=False)
def test_submitting_needs_login_outside_local_mode() -> None:
    response = Client().post("/", {"requirements": "requests\n"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert not Audit.objects.exists()


@override_settings(FORKAUDIT_LOCAL_MODE=False)
def test_anonymous_visitor_is_invited_to_log_in_outside_local_mode() -> None:
    html = Client().get("/").content.decode()

    assert 'href="/accounts/login/?next=/">Log in</a> to submit an audit' in html
    assert '<textarea name="requirements"' not in html


def test_local_mode_needs_no_login_and_its_audits_have_no_owner(launched: Client) -> None:
    assert '<textarea name="requirements"' in launched.get("/").content.decode()

    response = launched.post("/", {"requirements": "requests\n"})

    audit = Audit.objects.get()
    assert response["Location"] == f"/audits/{audit.pk}/"
    assert audit.owner is None
    assert "Local mode" in launched.get("/").content.decode()


def test_recent_audits_are_the_viewers_own(client_for: ClientFor, alice: User, bob: User) -> None:
    mine = done_audit(alice)
    theirs = queued_audit(bob, text="secret-internal-package\n")

    html = client_for(alice).get("/").content.decode()

    assert f'href="/audits/{mine.pk}/"' in html
    assert "pandas==2.2.3, requests" in html
    assert str(theirs.pk) not in html
    assert "secret-internal-package" not in html


def test_staff_see_everyones_recent_audits_with_their_owner(client_for: ClientFor, alice: User, sam: User) -> None:
    audit = queued_audit(alice)

    html = client_for(sam).get("/").content.decode()

    assert f'href="/audits/{audit.pk}/"' in html
    assert "<td>alice</td>" in html
