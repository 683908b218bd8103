"""POST /api/v1/audits/: submitting requirements or wheels."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.test import APIClient

from auditor.api.errors import PayloadTooLarge
from auditor.api.serializers import AuditSubmitSerializer
from auditor.models import Audit, AuditUpload
from tests.wheelfactory import build_wheel

URL = "/api/v1/audits/"
ClientFor = Callable[[User], APIClient]


def wheel_upload(tmp_path: Path, name: str = "demo", version: str = "1.0") -> SimpleUploadedFile:
    wheel = build_wheel(tmp_path, name, {f"{name}/__init__.py": "VALUE = 1\n"}, version=version)
    return SimpleUploadedFile(wheel.name, wheel.read_bytes(), content_type="application/octet-stream")


def assert_error(response, status: int, *fragments: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str)
    for fragment in fragments:
        assert fragment in body["detail"]
    return body


# --- accepted input ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_json_requirements_queue_an_audit_owned_by_the_submitter(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, {"requirements": "requests==2.32.3\n"}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    audit = Audit.objects.get(pk=body["id"])
    assert (audit.owner, audit.status, audit.input_kind) == (alice, "queued", "requirements")
    assert audit.options["shallow"] is False
    assert body == {
        "id": str(audit.pk),
        "status": "queued",
        "url": f"http://testserver/api/v1/audits/{audit.pk}/",
        "web_url": f"http://testserver/audits/{audit.pk}/",
    }
    assert response["Location"] == body["url"]
    upload = audit.uploads.get()
    assert (upload.kind, upload.filename) == ("requirements", "requirements.txt")
    assert bytes(upload.content) == b"requests==2.32.3\n"
    assert upload.sha256 == hashlib.sha256(b"requests==2.32.3\n").hexdigest()


@pytest.mark.django_db
def test_shallow_option_is_kept_with_the_audit(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, {"requirements": "requests\n", "shallow": True}, format="json")

    assert response.status_code == 202
    assert Audit.objects.get(pk=response.json()["id"]).options["shallow"] is True


@pytest.mark.django_db
def test_multipart_requirements_text_is_accepted(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, {"requirements": "requests\n", "shallow": "true"}, format="multipart")

    assert response.status_code == 202, response.content
    audit = Audit.objects.get(pk=response.json()["id"])
    assert audit.options["shallow"] is True
    assert audit.uploads.get().filename == "requirements.txt"


@pytest.mark.django_db
def test_requirements_files_keep_the_first_as_main_and_may_include_the_others(
    alice: User, client_for: ClientFor
) -> None:
    main = SimpleUploadedFile("main.txt", b"-r base.txt\n-c pins.txt\nflask\n")
    base = SimpleUploadedFile("base.txt", b"requests\n")
    pins = SimpleUploadedFile("pins.txt", b"urllib3<3\n")

    response = client_for(alice).post(URL, {"requirements_file": [main, base, pins]}, format="multipart")

    assert response.status_code == 202, response.content
    audit = Audit.objects.get(pk=response.json()["id"])
    assert audit.input_text == "-r base.txt\n-c pins.txt\nflask\n"
    assert [(u.kind, u.filename) for u in audit.uploads.all()] == [
        ("requirements", "main.txt"),
        ("requirements", "base.txt"),
        ("requirements", "pins.txt"),
    ]


@pytest.mark.django_db
def test_wheels_queue_a_wheel_audit_with_the_wheels_stored(alice: User, client_for: ClientFor, tmp_path: Path) -> None:
    first, second = wheel_upload(tmp_path, "alpha"), wheel_upload(tmp_path, "beta", "2.0")

    response = client_for(alice).post(URL, {"wheels": [first, second]}, format="multipart")

    assert response.status_code == 202, response.content
    audit = Audit.objects.get(pk=response.json()["id"])
    assert (audit.status, audit.input_kind) == ("queued", "wheels")
    assert json.loads(audit.input_text) == ["alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"]
    uploads = list(audit.uploads.all())
    assert [(u.kind, u.filename) for u in uploads] == [
        ("wheel", "alpha-1.0-py3-none-any.whl"),
        ("wheel", "beta-2.0-py3-none-any.whl"),
    ]
    assert bytes(uploads[0].content) == (tmp_path / "alpha-1.0-py3-none-any.whl").read_bytes()


@pytest.mark.django_db
def test_submission_sends_the_prepare_task_to_the_broker_on_commit(
    alice: User, client_for: ClientFor, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    queue = Path(settings.FORKAUDIT_DATA_DIR) / "broker" / "queue"
    before = set(queue.iterdir())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(alice).post(URL, {"requirements": "requests\n"}, format="json")

    assert response.status_code == 202
    assert len(callbacks) == 1
    sent = [json.loads(path.read_text()) for path in set(queue.iterdir()) - before]
    assert [message["headers"]["task"] for message in sent] == ["auditor.tasks.prepare_audit"]
    assert sent[0]["headers"]["argsrepr"] == repr([response.json()["id"]])


@pytest.mark.django_db
@override_settings(FORKAUDIT_LOCAL_MODE=True, FORKAUDIT_LAUNCH_TOKEN="the-launch-token-of-the-submit-tests-012345")
def test_local_mode_accepts_a_submission_with_the_launch_token_only(anonymous: APIClient) -> None:
    refused = anonymous.post(URL, {"requirements": "requests\n"}, format="json")
    anonymous.credentials(HTTP_AUTHORIZATION="Token the-launch-token-of-the-submit-tests-012345")
    response = anonymous.post(URL, {"requirements": "requests\n"}, format="json")

    assert refused.status_code == 401
    assert response.status_code == 202, response.content
    assert Audit.objects.get().owner is None


# --- authentication ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_submission_without_a_token_is_401(anonymous: APIClient) -> None:
    response = anonymous.post(URL, {"requirements": "requests\n"}, format="json")

    assert_error(response, 401, "credentials were not provided")
    assert response["WWW-Authenticate"] == "Token"
    assert not Audit.objects.exists()


@pytest.mark.django_db
def test_submission_with_a_bad_token_is_401(anonymous: APIClient) -> None:
    anonymous.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = anonymous.post(URL, {"requirements": "requests\n"}, format="json")

    assert_error(response, 401, "Invalid token")
    assert not Audit.objects.exists()


@pytest.mark.django_db
def test_submission_with_the_token_of_a_deactivated_user_is_401(alice: User, client_for: ClientFor) -> None:
    client = client_for(alice)
    alice.is_active = False
    alice.save()

    assert_error(client.post(URL, {"requirements": "requests\n"}, format="json"), 401)


# --- refused input -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_malformed_json_is_400(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, '{"requirements": ', content_type="application/json")

    assert_error(response, 400, "JSON parse error")


@pytest.mark.django_db
def test_json_that_is_not_an_object_is_400(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, ["requests"], format="json")

    assert_error(response, 400, "Expected a dictionary")


@pytest.mark.django_db
def test_wrong_content_type_is_415(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, "requests\n", content_type="text/plain")

    assert_error(response, 415, "text/plain")


@pytest.mark.django_db
def test_missing_input_is_400(alice: User, client_for: ClientFor) -> None:
    body = assert_error(client_for(alice).post(URL, {"shallow": True}, format="json"), 400, "Give exactly one of")

    assert body["code"] == "invalid"


@pytest.mark.django_db
def test_requirements_and_wheels_together_are_400(alice: User, client_for: ClientFor, tmp_path: Path) -> None:
    data = {"requirements": "requests\n", "wheels": [wheel_upload(tmp_path)]}

    response = client_for(alice).post(URL, data, format="multipart")

    assert_error(response, 400, "Give exactly one of", "requirements, wheels")
    assert not Audit.objects.exists()


@pytest.mark.django_db
def test_files_sent_as_json_strings_are_400(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, {"wheels": ["demo-1.0-py3-none-any.whl"]}, format="json")

    assert_error(response, 400, "wheels", "not a file")


@pytest.mark.django_db
def test_external_index_option_is_400_naming_file_and_line(alice: User, client_for: ClientFor) -> None:
    text = "requests\n--index-url https://example.org/simple\n"

    response = client_for(alice).post(URL, {"requirements": text}, format="json")

    body = assert_error(response, 400, "requirements.txt:2:", "--index-url")
    assert body["code"] == "invalid_input"
    assert not Audit.objects.exists()


@pytest.mark.django_db
def test_refused_line_of_an_uploaded_file_names_that_file(alice: User, client_for: ClientFor) -> None:
    main = SimpleUploadedFile("main.txt", b"-r base.txt\n")
    base = SimpleUploadedFile("base.txt", b"flask\n-e ./local\n")

    response = client_for(alice).post(URL, {"requirements_file": [main, base]}, format="multipart")

    assert_error(response, 400, "base.txt:2:")


@pytest.mark.django_db
def test_requirements_file_that_is_not_utf8_is_400(alice: User, client_for: ClientFor) -> None:
    upload = SimpleUploadedFile("requirements.txt", b"requests\n\xff\xfe\n")

    response = client_for(alice).post(URL, {"requirements_file": [upload]}, format="multipart")

    assert_error(response, 400, "requirements.txt:2:", "UTF-8")


@pytest.mark.django_db
def test_wheel_that_is_not_a_zip_is_400_naming_the_file(alice: User, client_for: ClientFor) -> None:
    upload = SimpleUploadedFile("demo-1.0-py3-none-any.whl", b"this is not a zip archive")

    response = client_for(alice).post(URL, {"wheels": [upload]}, format="multipart")

    assert_error(response, 400, "demo-1.0-py3-none-any.whl", "zip")
    assert not AuditUpload.objects.exists()


@pytest.mark.django_db
def test_wheel_with_a_bad_file_name_is_400(alice: User, client_for: ClientFor, tmp_path: Path) -> None:
    upload = wheel_upload(tmp_path)
    upload.name = "demo.zip"

    assert_error(client_for(alice).post(URL, {"wheels": [upload]}, format="multipart"), 400, "demo.zip")


# --- size and rate limits ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(FORKAUDIT_MAX_UPLOAD_BYTES=2048)
def test_json_body_over_the_upload_limit_is_413(alice: User, client_for: ClientFor) -> None:
    text = "".join(f"package-{n}\n" for n in range(400))

    response = client_for(alice).post(URL, {"requirements": text}, format="json")

    assert_error(response, 413, "2,048 bytes")
    assert not Audit.objects.exists()


@pytest.mark.django_db
@override_settings(FORKAUDIT_MAX_UPLOAD_BYTES=4096)
def test_upload_over_the_limit_is_413(alice: User, client_for: ClientFor) -> None:
    upload = SimpleUploadedFile("big-1.0-py3-none-any.whl", b"\0" * 8192)

    response = client_for(alice).post(URL, {"wheels": [upload]}, format="multipart")

    assert_error(response, 413, "4,096 bytes")
    assert not Audit.objects.exists()


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_body_over_djangos_memory_limit_is_413_json_not_400_html(alice: User, client_for: ClientFor) -> None:
    text = "".join(f"package-{n}\n" for n in range(400))

    response = client_for(alice).post(URL, {"requirements": text}, format="json")

    assert_error(response, 413, "1,024 bytes")


@override_settings(FORKAUDIT_MAX_UPLOAD_BYTES=1024)
def test_total_size_of_uploaded_files_is_checked_whatever_the_headers_said() -> None:
    uploads = [SimpleUploadedFile(f"part{n}.txt", b"x" * 600) for n in range(2)]
    serializer = AuditSubmitSerializer(data={"requirements_file": uploads})

    with pytest.raises(PayloadTooLarge):
        serializer.is_valid()


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=2)
def test_too_many_files_is_400(alice: User, client_for: ClientFor) -> None:
    uploads = [SimpleUploadedFile(f"r{n}.txt", b"requests\n") for n in range(3)]

    response = client_for(alice).post(URL, {"requirements_file": uploads}, format="multipart")

    assert_error(response, 400, "Too many files")


@pytest.mark.django_db
def test_content_length_that_is_not_a_number_is_400(alice: User, client_for: ClientFor) -> None:
    body = json.dumps({"requirements": "requests\n"})

    response = client_for(alice).generic("POST", URL, body, content_type="application/json", CONTENT_LENGTH="many")

    assert_error(response, 400, "Content-Length")


@pytest.mark.django_db
@override_settings(FORKAUDIT_SUBMIT_RATE="2/hour")
def test_submissions_over_the_rate_are_429(alice: User, bob: User, client_for: ClientFor) -> None:
    client = client_for(alice)
    statuses = [client.post(URL, {"requirements": "requests\n"}, format="json").status_code for _ in range(2)]

    response = client.post(URL, {"requirements": "requests\n"}, format="json")

    assert statuses == [202, 202]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert Audit.objects.count() == 2
    # The limit is per user.
    assert client_for(bob).post(URL, {"requirements": "requests\n"}, format="json").status_code == 202


@pytest.mark.django_db
@override_settings(FORKAUDIT_SUBMIT_RATE="1/hour")
def test_options_needs_no_token_and_is_not_counted_as_a_submission(alice: User, client_for: ClientFor) -> None:
    client = client_for(alice)

    assert APIClient().options(URL).status_code == 200
    assert client.options(URL).status_code == 200
    assert client.post(URL, {"requirements": "requests\n"}, format="json").status_code == 202


@pytest.mark.django_db
def test_get_on_the_submission_url_is_405(alice: User, client_for: ClientFor) -> None:
    assert_error(client_for(alice).get(URL), 405, "GET")


@pytest.mark.django_db
def test_empty_text_beside_an_uploaded_file_counts_as_not_given(alice: User, client_for: ClientFor) -> None:
    data = {"requirements": "", "requirements_file": [SimpleUploadedFile("requirements.txt", b"requests\n")]}

    response = client_for(alice).post(URL, data, format="multipart")

    assert response.status_code == 202, response.content
