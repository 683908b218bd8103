"""/audits/<id>/ : progress while queued or running, then the report or the error; owner and staff only."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
    ImportFailure,
    ModuleOutcome,
    ModuleStatus,
    Verdict,
)
from auditor.models import Audit
from tests.webui.reports import done_audit, failed_audit, pandas_report, queued_audit, running_audit

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db


def page(client: Client, audit: Audit) -> str:
    response = client.get(f"/audits/{audit.pk}/")
    assert response.status_code == 200, response.content
    return response.content.decode()


def text_of(html: str) -> str:
    """The page's text, tags removed and spaces collapsed (entities left as they are): inline elements (an
    identifier's pieces, names, code) run on as the browser shows them, other elements are apart."""
    html = re.sub(r"</?(?:span|a|code|strong|wbr)\b[^>]*>", "", html)  # inline: no space of their own
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_queued_audit_shows_its_status_and_polls_the_api(client_for: ClientFor, alice: User) -> None:
    audit = queued_audit(alice)

    html = page(client_for(alice), audit)

    assert "data-audit-status>queued</span>" in html
    assert "Queued: waiting for a worker." in html
    assert f'data-audit-status-url="/api/v1/audits/{audit.pk}/"' in html
    assert "webui/progress" in html and ".js" in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert "pandas==2.2.3, requests" in html


def test_running_audit_shows_done_of_total(client_for: ClientFor, alice: User) -> None:
    audit = running_audit(alice, done=1, total=4)

    html = page(client_for(alice), audit)

    assert '<progress id="audit-progress" max="4" value="1"' in html
    assert "1 of 4 distributions analysed" in html


def test_done_audit_shows_the_report(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice, pandas_report())

    html = page(client_for(alice), audit)
    text = text_of(html)

    assert "refresh" not in html and "progress.js" not in html
    assert "UNSAFE" not in text  # upper case is the stylesheet's business; the page says the verdict as it is
    assert "unsafe Not fork-safe" in text
    assert '<h2 id="verdict-heading"><span class="verdict verdict-unsafe">unsafe</span>' in html
    # The culprit, how it got in and the fix first (describe.headline), then the line to copy.
    assert (
        "unsafe Not fork-safe numpy 2.4.6 (pulled in by pandas) leaves a native thread running after import — "
        "fix: OPENBLAS_NUM_THREADS=1 (verified)" in text
    )
    assert '<code id="fix-line" data-fix-line>ENV OPENBLAS_NUM_THREADS=1</code>' in html
    assert "How to apply the fix" in text
    assert "1 of 3 distributions leaves a thread or process running after import" in text
    assert "Distributions 3 Unsafe 1 Error 0 Caution 1 Safe 1" in text
    assert "Python 3.11.2 Platform linux-x86_64 Sandbox bwrap" in text
    # Most severe first: numpy (unsafe), requests (caution); the safe one (pandas) on one line after them.
    table = text[text.index("Distributions that are not safe, most severe first") :]
    assert table.index("numpy 2.4.6 unsafe") < table.index("requests 2.32.3 caution") < table.index("safe 1: pandas")
    assert "native thread <code>python</code> alive after import" in html
    assert "(module numpy._core._multiarray_umath)" in text
    assert "pandas&nbsp;→ numpy" in text
    assert '<code class="mitigation">OPENBLAS_NUM_THREADS=1</code>' in html
    assert "fork-aware" in text  # requests registers at-fork handlers
    assert "starts threads at runtime: threading.Thread at requests/pool.py:42" in text
    assert "direct requirement" in text


def test_a_suppressed_culprit_keeps_its_evidence_but_is_no_headline(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice, pandas_report(suppressed="only used in the CLI, which never forks"))

    html = page(client_for(alice), audit)
    text = text_of(html)

    assert "Suppressed: only used in the CLI, which never forks" in text
    assert "Distributions 3 Unsafe 1 Error 0 Caution 1 Safe 1 Suppressed 1" in text
    assert "native thread <code>python</code> alive after import" in html
    assert "fix-line" not in html  # nothing left to fix


def test_report_details_list_modules_and_every_finding(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)

    text = text_of(page(client_for(alice), audit))

    assert "Details of numpy: 1 finding, 2 modules" in text
    assert "2 modules, 1 not imported Filter modules" in text  # the module table's own (collapsed) summary
    assert "numpy.f2py.tests submodule import-error No module named x" in text
    assert "numpy ok 90 ms" in text
    safe = "pandas 2.2.3 direct requirement · result reused from an earlier probe Findings No findings. 1 module"
    assert safe in text


def test_report_says_which_distributions_were_built_from_source(client_for: ClientFor, alice: User) -> None:
    report = pandas_report()
    first, *rest = report.distributions
    report = dataclasses.replace(report, distributions=(dataclasses.replace(first, built_from_source=True), *rest))

    html = page(client_for(alice), done_audit(alice, report))

    assert text_of(html).count("built from source (no usable wheel)") == 1


def test_done_audit_links_its_report_downloads(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)

    html = page(client_for(alice), audit)

    for fmt in ("json", "md", "sarif"):
        assert f'href="/audits/{audit.pk}/report.{fmt}" download' in html


def test_failed_audit_shows_the_error(client_for: ClientFor, alice: User) -> None:
    audit = failed_audit(alice, "the requirements cannot be resolved:\nno version of nosuchpackage")

    html = page(client_for(alice), audit)

    assert "The audit failed" in html
    assert "the requirements cannot be resolved:\nno version of nosuchpackage" in html


def test_other_users_get_404_for_an_audit(client_for: ClientFor, alice: User, bob: User, charlie: User) -> None:
    audit = done_audit(alice)

    for client in (client_for(bob), client_for(charlie), Client()):
        response = client.get(f"/audits/{audit.pk}/")
        assert response.status_code == 404
        assert "numpy" not in response.content.decode()


def test_staff_see_any_owned_audit(client_for: ClientFor, alice: User, sam: User) -> None:
    audit = done_audit(alice)

    assert "pandas&nbsp;→ numpy" in text_of(page(client_for(sam), audit))


@pytest.mark.parametrize("audit_id", [uuid.uuid4(), "not-a-uuid", "1' OR '1'='1", "%00"])
def test_unknown_or_malformed_id_is_404(client_for: ClientFor, alice: User, audit_id: object) -> None:
    response = client_for(alice).get(f"/audits/{audit_id}/")

    assert response.status_code == 404
    assert "Not found" in response.content.decode()


def test_local_mode_shows_audits_without_owner_to_the_launch_session_only(launched: Client) -> None:
    audit = done_audit(None)

    assert "pandas&nbsp;→ numpy" in text_of(page(launched, audit))
    assert Client().get(f"/audits/{audit.pk}/").status_code == 403


@override_settings(FORKAUDIT_LOCAL_MODE=False)
def test_audits_without_owner_are_hidden_outside_local_mode(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(None)

    assert client_for(alice).get(f"/audits/{audit.pk}/").status_code == 404


def test_the_status_api_answers_the_pages_session(client_for: ClientFor, alice: User, bob: User) -> None:
    """The page's script polls the API with its session cookie: SessionAuthentication must let it through."""
    audit = running_audit(alice, done=2, total=3)

    response = client_for(alice).get(f"/api/v1/audits/{audit.pk}/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json()["progress"] == {"done": 2, "total": 3}
    assert client_for(bob).get(f"/api/v1/audits/{audit.pk}/").status_code == 404


def test_hostile_strings_in_a_report_are_escaped(client_for: ClientFor, alice: User) -> None:
    script = "<script>alert(1)</script>"
    report = pandas_report(thread=script, suppressed=f"<b>{script}</b>")
    evil = DistributionReport(
        name="evil",
        version="1.0",
        direct=True,
        verdict=Verdict.ERROR,
        fork_aware=False,
        paths=(("evil",),),
        modules=(
            ModuleOutcome(name=f"evil.{script}", status=ModuleStatus.CRASH, error=f'"><img src=x onerror={script}'),
        ),
        findings=(ImportFailure(module="evil", reason="crash", message=f"{script}<img src=x onerror=alert(2)>"),),
    )
    hostile = AuditReport(
        verdict=report.verdict,
        environment=Environment(python=script, platform="<i>linux</i>", sandbox="bwrap"),
        distributions=(*report.distributions, evil),
        errors=(f"pip-audit said {script}",),
    )
    audit = done_audit(alice, hostile)

    html = page(client_for(alice), audit)

    assert "<script>" not in html
    assert "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "native thread <code>&lt;script&gt;alert(1)&lt;/script&gt;</code> alive after import" in html


def test_hostile_error_message_of_a_failed_audit_is_escaped(client_for: ClientFor, alice: User) -> None:
    audit = failed_audit(alice, "cannot install <script>alert(1)</script>")

    html = page(client_for(alice), audit)

    assert "<script>alert(1)" not in html
    assert "cannot install &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_report_of_an_unknown_schema_is_not_a_server_error(client_for: ClientFor, alice: User) -> None:
    audit = done_audit(alice)
    Audit.objects.filter(pk=audit.pk).update(report={"schema": "forkaudit-report/99"})

    html = page(client_for(alice), audit)

    assert "The report cannot be shown" in html


@pytest.mark.parametrize(
    ("verdict", "headline", "sentence"),
    [
        ("safe", "Fork-safe", "No distribution starts threads, processes or sockets on import."),
        ("caution", "Fork-safe, with caution", "1 distribution starts threads briefly during import or leaves"),
        ("error", "Incomplete", "1 distribution could not be probed: the audit cannot vouch for it."),
    ],
)
def test_each_audit_verdict_has_its_headline(
    client_for: ClientFor, alice: User, verdict: str, headline: str, sentence: str
) -> None:
    one = DistributionReport(
        name="demo",
        version="1.0",
        direct=True,
        verdict=Verdict(verdict),
        fork_aware=False,
        paths=(("demo",),),
        modules=(),
        findings=(),
    )
    report = AuditReport(
        verdict=Verdict(verdict),
        environment=Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap"),
        distributions=(one,),
    )

    text = text_of(page(client_for(alice), done_audit(alice, report)))

    assert f"{verdict} {headline}" in text
    assert sentence in text
