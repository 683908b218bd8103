"""The web UI in a real browser (tests/webui/browser.py): local mode, the report, progress, cross-site forms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from auditor.models import Audit
from tests.webui.browser import expect, log_in, open_page, screenshot
from tests.webui.reports import done_audit, running_audit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with open_page(monkeypatch, {"width": 1280, "height": 900}) as page:
        yield page


def test_local_mode_lets_in_the_browser_that_opens_the_launch_url(page: Any, live_server: Any, local_mode: str) -> None:
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Open the address forkaudit serve printed")).to_be_visible()
    screenshot(page, "launch-url-needed")

    page.goto(f"{live_server.url}/?token={local_mode}")

    expect(page).to_have_url(live_server.url + "/")  # the token is dropped from the address (and the history)
    screenshot(page, "new-audit")
    page.get_by_label("Requirements", exact=True).fill("requests==2.32.3\n")
    page.get_by_role("button", name="Audit").click()

    audit = Audit.objects.get()
    expect(page).to_have_url(f"{live_server.url}/audits/{audit.pk}/")
    expect(page.locator("[data-audit-status]")).to_have_text("queued")
    expect(page.get_by_text("Queued: waiting for a worker.")).to_be_visible()
    screenshot(page, "queued-audit")
    # The page's script polls the API with the launch session.
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.RUNNING, progress_done=1, progress_total=2)
    expect(page.get_by_text("1 of 2 distributions analysed")).to_be_visible()


def test_a_finished_audit_shows_verdict_path_and_mitigation(page: Any, live_server: Any, alice: User) -> None:
    audit = done_audit(alice)
    log_in(page, live_server, alice)

    page.goto(f"{live_server.url}/audits/{audit.pk}/")

    expect(page.locator("#verdict-heading")).to_contain_text("unsafe")
    expect(page.locator("#verdict-heading")).to_contain_text("Not fork-safe")
    numpy = page.locator("tbody.distribution").first
    expect(numpy.get_by_role("rowheader")).to_contain_text("numpy 2.4.6")
    expect(numpy.get_by_text("pandas → numpy")).to_be_visible()
    expect(numpy.get_by_text("OPENBLAS_NUM_THREADS=1")).to_be_visible()
    # The details open without JavaScript of ours: <details>.
    details = numpy.locator("details").first
    expect(details.get_by_text("numpy.f2py.tests")).to_be_hidden()
    details.locator("> summary").click()
    expect(details.get_by_text("Findings")).to_be_visible()
    expect(details.get_by_text("numpy.f2py.tests")).to_be_hidden()  # the module table is collapsed
    details.locator("[data-modules] > summary").click()
    expect(details.get_by_text("numpy.f2py.tests")).to_be_visible()
    screenshot(page, "report")


def test_the_progress_bar_follows_the_database(page: Any, live_server: Any, alice: User) -> None:
    audit = running_audit(alice, done=1, total=4)
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    progress = page.locator("#audit-progress")
    expect(page.get_by_text("1 of 4 distributions analysed")).to_be_visible()
    screenshot(page, "running-audit")
    page.evaluate("window.notReloaded = true")

    Audit.objects.filter(pk=audit.pk).update(progress_done=3)

    # The script polls the API with the page's session cookie, without reloading the page.
    expect(page.get_by_text("3 of 4 distributions analysed")).to_be_visible()
    expect(progress).to_have_js_property("value", 3)
    assert page.evaluate("window.notReloaded") is True


EVIL_PAGE = "http://evil.example/"


@pytest.mark.parametrize("target", ["/api/v1/audits/", "/"], ids=["api", "web-form"])
def test_a_form_on_another_site_that_posts_itself_creates_no_audit(
    page: Any, live_server: Any, local_mode: str, target: str
) -> None:
    # The victim's browser has opened the launch URL; then it visits a page of evil.example (served here by the
    # browser's own routing) whose form submits itself to the local server, as in the reported attack.
    page.goto(f"{live_server.url}/?token={local_mode}")
    attack = f"""<!doctype html><form method="post" enctype="multipart/form-data" action="{live_server.url}{target}">
        <textarea name="requirements">requests==2.32.3</textarea></form><script>document.forms[0].submit()</script>"""
    page.route(EVIL_PAGE, lambda route: route.fulfill(status=200, content_type="text/html", body=attack))

    with page.expect_response(f"{live_server.url}{target}") as answer:
        page.goto(EVIL_PAGE)

    assert answer.value.status == 403
    assert answer.value.request.all_headers()["origin"] == "http://evil.example"
    assert not Audit.objects.exists()
