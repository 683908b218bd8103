"""/ : a lock file uploaded on the new-audit form."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from auditor.models import Audit

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db

POETRY_LOCK = """\
[[package]]
name = "six"
version = "1.17.0"
optional = false
python-versions = "*"
groups = ["main"]
files = []

[metadata]
lock-version = "2.1"
python-versions = "^3.11"
content-hash = "0"
"""


def test_a_lock_file_queues_an_audit_and_redirects_to_it(client_for: ClientFor, alice: User) -> None:
    upload = SimpleUploadedFile("poetry.lock", POETRY_LOCK.encode())

    response = client_for(alice).post("/", {"requirements_file": [upload]})

    audit = Audit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/audits/{audit.pk}/"
    assert audit.uploads.get().filename == "poetry.lock"


def test_a_malformed_lock_file_reshows_the_form_with_file_and_line(client_for: ClientFor, alice: User) -> None:
    upload = SimpleUploadedFile("poetry.lock", POETRY_LOCK.replace('version = "1.17.0"', 'version = "one"').encode())

    response = client_for(alice).post("/", {"requirements_file": [upload]})

    assert response.status_code == 400
    assert "poetry.lock:1: six: &#x27;one&#x27; is not a version" in response.content.decode()
    assert not Audit.objects.exists()


def test_the_form_says_lock_files_are_taken(client_for: ClientFor, alice: User) -> None:
    html = client_for(alice).get("/").content.decode()

    assert "uv.lock" in html and "poetry.lock" in html
