"""/audits/<id>/report.<fmt> : the finished report as JSON (as the API gives it), Markdown or SARIF."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor.models import AuditUpload
from tests.webui.reports import done_audit, running_audit

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db


def test_json_download_is_the_stored_report(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)

    response = client_for(alice).get(f"/audits/{audit.pk}/report.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="forkaudit-{audit.pk}.json"'
    assert json.loads(response.content) == audit.report
    assert audit.report["schema"] == "forkaudit-report/1"


def test_markdown_download_has_the_path_and_mitigation(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)

    response = client_for(alice).get(f"/audits/{audit.pk}/report.md")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    body = response.content.decode()
    assert body.startswith("## forkaudit: ")
    assert "pandas → numpy" in body
    assert "OPENBLAS_NUM_THREADS=1" in body


def test_sarif_download_is_a_sarif_log(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)

    response = client_for(alice).get(f"/audits/{audit.pk}/report.sarif")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/sarif+json"
    assert json.loads(response.content)["version"] == "2.1.0"


def test_sarif_download_points_at_the_line_of_the_uploaded_requirements_file(
    client_for: ClientFor, alice: User
) -> None:
    audit = done_audit(alice)
    content = b"# what the app needs\npandas==2.2.3\nrequests\n"
    AuditUpload.objects.create(
        audit=audit, kind=AuditUpload.Kind.REQUIREMENTS, filename="requirements.txt", content=content, sha256="0" * 64
    )

    log = json.loads(client_for(alice).get(f"/audits/{audit.pk}/report.sarif").content)

    numpy = next(r for r in log["runs"][0]["results"] if r["properties"]["distribution"] == "numpy")
    where = numpy["locations"][0]["physicalLocation"]
    assert (where["artifactLocation"]["uri"], where["region"]["startLine"]) == ("requirements.txt", 2)  # pandas's


def test_unknown_format_is_404(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)

    assert client_for(alice).get(f"/audits/{audit.pk}/report.html").status_code == 404


def test_an_unfinished_audit_has_no_report(client_for: ClientFor, alice: User) -> None:
    audit = running_audit(alice)

    assert client_for(alice).get(f"/audits/{audit.pk}/report.json").status_code == 404


def test_others_get_404_for_the_report(client_for: ClientFor, alice: User, bob: User) -> None:
    audit = done_audit(alice)

    for client in (client_for(bob), Client()):
        for fmt in ("json", "md", "sarif"):
            assert client.get(f"/audits/{audit.pk}/report.{fmt}").status_code == 404
