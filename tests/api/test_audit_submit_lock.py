"""POST /api/v1/audits/ with a lock file: uploaded as `requirements_file`, known by its name."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from auditor.models import Audit

URL = "/api/v1/audits/"
ClientFor = Callable[[User], APIClient]
pytestmark = pytest.mark.django_db

PIPFILE_LOCK = {"_meta": {"pipfile-spec": 6}, "default": {"six": {"version": "==1.17.0"}}}
UV_LOCK_WITH_GIT = """\
version = 1
revision = 3

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "six" }]

[[package]]
name = "six"
version = "1.17.0"
source = { git = "https://github.com/evil/six?rev=main#abc" }
"""


def test_a_lock_file_queues_an_audit_with_the_lock_stored(alice: User, client_for: ClientFor) -> None:
    upload = SimpleUploadedFile("Pipfile.lock", json.dumps(PIPFILE_LOCK).encode())

    response = client_for(alice).post(URL, {"requirements_file": [upload]}, format="multipart")

    assert response.status_code == 202, response.content
    audit = Audit.objects.get(pk=response.json()["id"])
    assert [(u.kind, u.filename) for u in audit.uploads.all()] == [("requirements", "Pipfile.lock")]


def test_a_git_source_in_a_lock_is_400_naming_the_package_and_line(alice: User, client_for: ClientFor) -> None:
    upload = SimpleUploadedFile("uv.lock", UV_LOCK_WITH_GIT.encode())

    response = client_for(alice).post(URL, {"requirements_file": [upload]}, format="multipart")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["detail"].startswith("uv.lock:10: six: a git source")
    assert not Audit.objects.exists()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("uv.lock", b"version = 1\n[[package]\n")], "uv.lock:2: is not valid TOML"),
        ([("Pipfile.lock", b'{"default": ')], "Pipfile.lock:1: is not valid JSON"),
        ([("uv.lock", UV_LOCK_WITH_GIT.encode()), ("requirements.txt", b"six\n")], "a lock file is audited on its own"),
    ],
)
def test_a_malformed_lock_or_one_with_other_files_is_400(
    alice: User, client_for: ClientFor, files: list[tuple[str, bytes]], message: str
) -> None:
    uploads = [SimpleUploadedFile(name, content) for name, content in files]

    response = client_for(alice).post(URL, {"requirements_file": uploads}, format="multipart")

    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not Audit.objects.exists()
