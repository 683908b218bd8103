"""The report in a real browser at a desktop's and a phone's size: readable at any width, the culprit and the fix on
the first screen, module tables collapsed and filterable (issue 14, item 2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.webui.browser import DESKTOP, PHONE, expect, log_in, open_page, screenshot
from tests.webui.reports import NUMPY_MODULES, OPENBLAS_FILE, done_audit, openblas_report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(params=sorted(SIZES))
def sized(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    with open_page(monkeypatch, SIZES[request.param]) as page:
        yield request.param, page


@pytest.fixture
def report_page(sized: tuple[str, Any], live_server: Any, alice: User) -> tuple[str, Any]:
    size, page = sized
    audit = done_audit(alice, openblas_report())
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    return size, page


def test_the_first_screen_names_the_culprit_and_the_fix(report_page: tuple[str, Any]) -> None:
    size, page = report_page
    culprit = page.locator("[data-culprit]")
    fix = page.locator("[data-fix-line]")

    expect(culprit).to_contain_text("numpy 2.4.6 (pulled in by my-application-server)")
    expect(culprit).to_contain_text("OpenBLAS thread")
    expect(fix).to_have_text("ENV OMP_NUM_THREADS=1")
    # Without scrolling: the page is where it opened.
    assert page.evaluate("window.scrollY") == 0
    expect(culprit).to_be_in_viewport(ratio=1)
    expect(fix).to_be_in_viewport(ratio=1)
    screenshot(page, f"report-{size}")


def test_the_report_never_scrolls_sideways(report_page: tuple[str, Any]) -> None:
    size, page = report_page
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"

    assert page.evaluate(overflow) == 0
    # Nor once everything is open: the details, the safe distributions, the module tables.
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    assert page.evaluate(overflow) == 0
    screenshot(page, f"report-open-{size}")


def test_the_evidence_gets_the_room(report_page: tuple[str, Any]) -> None:
    """The evidence column is the widest (a long dependency path wraps at its arrows instead of squeezing it); on a
    phone each distribution is a card whose evidence takes the card's width."""
    size, page = report_page
    numpy = page.locator("tbody.distribution-unsafe")
    evidence = numpy.locator(".evidence-cell").bounding_box()
    card = numpy.bounding_box()
    path = numpy.locator(".paths").bounding_box()

    assert evidence is not None and card is not None and path is not None
    if size == "desktop":
        assert evidence["width"] >= 0.4 * card["width"]
        assert evidence["width"] > path["width"]
        assert evidence["x"] + evidence["width"] <= path["x"]  # side by side: a table
    else:
        assert evidence["width"] >= 0.85 * card["width"]
        assert path["y"] >= evidence["y"] + evidence["height"]  # stacked: a card
    # Every piece of every identifier stays whole within its box, even once everything is open: names break only
    # after a `/` or a `.` (numpy's module names too, on a phone).
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    overflowing = page.evaluate(
        """Array.from(document.querySelectorAll('.seg')).filter((s) => {
            const box = s.parentElement.closest('td, th, li, p, div, h3, summary').getBoundingClientRect();
            const piece = s.getBoundingClientRect();
            return piece.right > box.right + 0.5 || piece.left < box.left - 0.5;
        }).map((s) => s.textContent)"""
    )
    assert overflowing == []
    # And they do break there: the deep path is on more than one line at these widths.
    lines = numpy.locator(".path").first.evaluate("(p) => Math.round(p.getBoundingClientRect().height)")
    line_height = numpy.locator(".path").first.evaluate("(p) => parseFloat(getComputedStyle(p).lineHeight)")
    assert lines > 1.5 * line_height


def test_native_threads_show_their_library_its_file_and_the_fork_trial(report_page: tuple[str, Any]) -> None:
    size, page = report_page
    numpy = page.locator("tbody.distribution-unsafe")
    scipy = page.locator("tbody.distribution-caution")

    expect(numpy.locator(".evidence-cell")).to_contain_text("OpenBLAS thread")
    expect(numpy.locator(".evidence-cell")).to_contain_text(OPENBLAS_FILE)
    expect(numpy.locator(".evidence-cell")).to_contain_text("fork trial: the child ran its smoke test")
    expect(numpy.locator(".evidence-cell")).to_contain_text("1 thread kept running across it")
    expect(scipy.locator(".evidence-cell")).to_contain_text("stopped by its library at fork")
    expect(numpy.locator(".fix-cell")).to_contain_text("OMP_NUM_THREADS=1")


def test_module_tables_are_collapsed_and_filterable(report_page: tuple[str, Any]) -> None:
    size, page = report_page
    numpy = page.locator("tbody.distribution-unsafe")
    modules = numpy.locator("[data-modules]")
    rows = modules.locator("tr[data-module]")

    numpy.locator(".details-row > td > details > summary").click()
    expect(modules.locator("summary")).to_have_text(f"{NUMPY_MODULES} modules")
    expect(rows.first).to_be_hidden()  # the details are open, the module table is not

    modules.locator("summary").click()
    expect(rows).to_have_count(NUMPY_MODULES)
    expect(rows.first).to_be_visible()
    modules.get_by_label("Filter modules").fill("linalg")

    expect(modules.locator("tr[data-module]:visible")).to_have_count(3)
    expect(modules.locator("[data-module-count]")).to_have_text(f"3 of {NUMPY_MODULES} shown")
    expect(rows.filter(has_text="numpy.linalg.lapack_lite")).to_be_visible()
    screenshot(page, f"report-modules-{size}")


def test_the_safe_distributions_are_one_line(report_page: tuple[str, Any]) -> None:
    size, page = report_page
    safe = page.locator("#safe-distributions")
    summary = safe.locator("> summary")

    expect(summary).to_contain_text("safe 30: safe-dependency-number-00 1.0.0, safe-dependency-number-01 1.0.0")
    height = summary.evaluate("(s) => s.getBoundingClientRect().height / parseFloat(getComputedStyle(s).lineHeight)")
    assert height < 2  # lines
    expect(page.locator("tbody.distribution")).to_have_count(2)  # the table has only the two that are not safe
    summary.click()
    expect(safe.get_by_role("region", name="safe-dependency-number-29 1.0.0")).to_be_visible()
