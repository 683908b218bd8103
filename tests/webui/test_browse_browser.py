"""The browsing pages in a real browser (Debian's Chromium through Playwright, as tests/webui/test_browser.py): the
fork-unsafe list and its filters, a package page, an unknown package, a typo's suggestion, and all of them on a
390×844 phone without horizontal scrolling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest
from django.contrib.auth.models import User

from auditor import popularity
from auditor.core.findings import ThreadOnImport, Verdict
from auditor.services import audit_create, audit_graph_store
from tests.api.builders import store_result
from tests.webui.test_browser import log_in, page, screenshot  # noqa: F401 (page is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LONG_NAME = "a-package-with-a-rather-long-name-for-a-phone-screen"


@pytest.fixture
def knowledge_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy (unsafe: OpenBLAS, verified fix) pulled in by pandas, a Python thread without a fix, safe packages."""
    path = tmp_path / "top-pypi-packages.tsv"
    path.write_text("rank\tname\n1\tnumpy\n2\tpandas\n")
    monkeypatch.setattr(popularity, "RANKING_FILE", path)
    openblas = ThreadOnImport(
        thread="python",
        native=True,
        alive_after_import=True,
        module="numpy._core._multiarray_umath",
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
        library="OpenBLAS",
        library_file="numpy.libs/libscipy_openblas64_-56d6093b.so.0.3.29.dev",
    )
    store_result("numpy", "1.26.4", Verdict.SAFE)
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (openblas,))
    store_result("pandas", "2.2.3", Verdict.SAFE)
    flusher = ThreadOnImport(
        thread="telemetry-flusher-with-a-long-thread-name", native=False, alive_after_import=True, module="t"
    )
    store_result(LONG_NAME, "10.20.30.dev4", Verdict.UNSAFE, (flusher,))
    audit = audit_create(owner=None, input_kind="requirements", input_text="pandas\n", options={"origins": {}})
    graph = {"direct": ["pandas"], "edges": [["pandas", "numpy"]], "pins": {"pandas": "2.2.3", "numpy": "2.4.6"}}
    audit_graph_store(audit_id=audit.pk, graph=graph)


def no_horizontal_overflow(page: Any) -> None:  # noqa: F811
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} is {width}px wide in a {viewport}px viewport"


def test_the_unsafe_list_shows_the_thread_and_fix_and_filters(
    page: Any,  # noqa: F811
    live_server: Any,
    knowledge_base: None,
) -> None:
    expect = playwright_sync.expect
    page.goto(f"{live_server.url}/unsafe/")

    rows = page.locator("table.browse-list tbody tr")
    expect(rows).to_have_count(2)
    numpy = rows.first
    expect(numpy.get_by_role("rowheader")).to_contain_text("numpy 2.4.6")
    expect(numpy.locator("td[data-label=Library]")).to_contain_text("OpenBLAS numpy.libs/libscipy_openblas64_")
    expect(numpy.locator("code.fix")).to_have_text("OPENBLAS_NUM_THREADS=1")
    screenshot(page, "unsafe-list")

    page.get_by_label("Left behind").select_option("python")
    page.get_by_role("button", name="Filter").click()

    expect(page).to_have_url(f"{live_server.url}/unsafe/?verdict=unsafe&kind=python")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("rowheader")).to_contain_text(LONG_NAME)
    expect(rows.first).to_contain_text("import after the fork")


def test_a_package_page_says_why_and_who_pulls_it_in(
    page: Any,  # noqa: F811
    live_server: Any,
    knowledge_base: None,
) -> None:
    expect = playwright_sync.expect
    page.goto(f"{live_server.url}/unsafe/")
    page.get_by_role("link", name="numpy", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/packages/numpy/")
    line = page.locator("[data-verdict-line]")
    expect(line).to_contain_text("leaves a native thread running (python, OpenBLAS) after import.")
    expect(line).to_contain_text("What to do: set OPENBLAS_NUM_THREADS=1 before the import (verified).")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    screenshot(page, "package-page")

    page.locator(".pulled-in-by").get_by_role("link", name="pandas").click()

    expect(page).to_have_url(f"{live_server.url}/packages/pandas/")
    expect(page.locator("[data-verdict-line]")).to_contain_text("What to do: nothing")


def test_a_typo_leads_to_the_package_and_an_unknown_one_to_its_audit(
    page: Any,  # noqa: F811
    live_server: Any,
    knowledge_base: None,
    alice: User,
) -> None:
    expect = playwright_sync.expect
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/packages/")
    page.get_by_label("Package name").fill("nunpy")
    page.get_by_role("button", name="Search").click()

    expect(page.get_by_text("No package matches this search.")).to_be_visible()
    page.locator(".suggestions").get_by_role("link", name="numpy").click()
    expect(page).to_have_url(f"{live_server.url}/packages/numpy/")

    page.goto(f"{live_server.url}/packages/pyrhon-dateutil/")
    expect(page.get_by_text("forkaudit has no public result for pyrhon-dateutil yet.")).to_be_visible()
    screenshot(page, "unknown-package")
    page.get_by_role("link", name="Audit it now").click()

    expect(page.get_by_label("Requirements", exact=True)).to_have_value("pyrhon-dateutil")


def test_the_browsing_pages_fit_a_phone(
    page: Any,  # noqa: F811
    live_server: Any,
    knowledge_base: None,
    alice: User,
) -> None:
    expect = playwright_sync.expect
    page.set_viewport_size(PHONE)
    log_in(page, live_server, alice)

    page.goto(f"{live_server.url}/")
    expect(page.locator("[data-dataset-numbers]")).to_contain_text("3 packages probed (4 versions)")
    no_horizontal_overflow(page)
    page.locator("[data-dataset-numbers]").get_by_role("link", name="2 are fork-unsafe").click()

    expect(page).to_have_url(f"{live_server.url}/unsafe/")
    expect(page.locator("table.browse-list thead")).not_to_be_in_viewport()  # rows are cards, labelled
    expect(page.get_by_text("OPENBLAS_NUM_THREADS=1")).to_be_visible()
    no_horizontal_overflow(page)
    screenshot(page, "unsafe-list-phone")

    for path in ("/packages/numpy/", f"/packages/{LONG_NAME}/", "/packages/nunpy/", "/packages/?q=nunpy"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1")).to_be_visible()
        no_horizontal_overflow(page)
    screenshot(page, "search-phone")
