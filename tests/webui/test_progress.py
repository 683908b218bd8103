"""Progress that tells a story (issue 14, item 6): while an audit runs, its page shows each distribution's state,
the findings of those that are not safe as they land, and the time elapsed; the API gives the same data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor.models import Audit, AuditDistribution
from auditor.services import (
    audit_distribution_complete,
    audit_distribution_probing,
    audit_graph_store,
    audit_mark_running,
)
from tests.api.builders import store_result
from tests.probe_results import native_thread
from tests.webui.browser import DESKTOP, PHONE, expect, log_in, open_page, screenshot
from tests.webui.reports import queued_audit

ClientFor = Callable[[User], Client]
PINS = {"numpy": "2.4.6", "pandas": "2.2.3", "requests": "2.32.3"}


def audit_under_way(owner: User) -> Audit:
    """pandas → numpy, and requests: numpy probed (unsafe), pandas reused from an earlier probe, requests queued."""
    audit = queued_audit(owner)
    audit_mark_running(audit_id=audit.pk)
    audit_graph_store(audit_id=audit.pk, graph={"direct": ["pandas", "requests"], "edges": [], "pins": PINS})
    complete(audit, "numpy", verdict="unsafe", findings=(native_thread(),), cached=False)
    complete(audit, "pandas", verdict="safe", cached=True)
    return audit


def complete(audit: Audit, name: str, *, verdict: str, findings: tuple = (), cached: bool) -> None:  # type: ignore[type-arg]
    record = store_result(name, PINS[name], verdict, findings)
    distribution = AuditDistribution.objects.get(audit=audit, name=name)
    assert audit_distribution_complete(audit_distribution_id=distribution.pk, probe=record, cached=cached)


@pytest.mark.django_db
def test_the_api_gives_each_distributions_state_and_findings(client_for: ClientFor, alice: User) -> None:
    audit = audit_under_way(alice)

    body = client_for(alice).get(f"/api/v1/audits/{audit.pk}/").json()

    assert body["progress"] == {"done": 2, "total": 3}
    assert body["elapsed_seconds"] >= 0
    states = {d["name"]: d for d in body["distributions"]}
    assert states["numpy"] == {
        "name": "numpy",
        "version": "2.4.6",
        "state": "done",
        "verdict": "unsafe",
        "cached": False,
        "modules": 1,
        "findings": ["native thread `python` alive after import (module numpy._core._multiarray_umath)"],
    }
    assert (states["pandas"]["state"], states["pandas"]["verdict"], states["pandas"]["cached"]) == (
        "done",
        "safe",
        True,
    )
    assert states["pandas"]["findings"] == []
    assert (states["requests"]["state"], states["requests"]["verdict"]) == ("queued", None)


@pytest.mark.django_db
def test_a_distribution_a_worker_probes_is_probing_with_the_modules_it_imports(
    client_for: ClientFor, alice: User
) -> None:
    audit = audit_under_way(alice)
    requests = AuditDistribution.objects.get(audit=audit, name="requests")
    audit_distribution_probing(audit_distribution_id=requests.pk, modules=12)

    body = client_for(alice).get(f"/api/v1/audits/{audit.pk}/").json()

    [state] = [d for d in body["distributions"] if d["name"] == "requests"]
    assert (state["state"], state["verdict"], state["modules"]) == ("probing", None, 12)


@pytest.mark.django_db
def test_a_distribution_that_could_not_be_installed_is_an_error_with_its_reason(
    client_for: ClientFor, alice: User
) -> None:
    audit = audit_under_way(alice)
    requests = AuditDistribution.objects.get(audit=audit, name="requests")
    audit_distribution_complete(
        audit_distribution_id=requests.pk, probe=None, cached=False, error="no wheel for this platform"
    )

    body = client_for(alice).get(f"/api/v1/audits/{audit.pk}/").json()

    [state] = [d for d in body["distributions"] if d["name"] == "requests"]
    assert (state["state"], state["verdict"], state["findings"]) == ("done", "error", ["no wheel for this platform"])


@pytest.fixture(params=["desktop", "phone"])
def sized_page(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    with open_page(monkeypatch, DESKTOP if request.param == "desktop" else PHONE) as page:
        yield request.param, page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_shows_states_and_findings_as_they_land(
    sized_page: tuple[str, Any], live_server: Any, alice: User
) -> None:
    size, page = sized_page
    audit = audit_under_way(alice)
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/audits/{audit.pk}/")
    page.evaluate("window.notReloaded = true")
    states = page.locator("[data-distributions]")

    expect(page.get_by_text("2 of 3 distributions analysed (1 reused from earlier probes)")).to_be_visible()
    expect(page.locator("[data-elapsed]")).to_contain_text("s elapsed")
    expect(states.locator("[data-state=unsafe]")).to_contain_text("numpy 2.4.6 unsafe · 1 module")
    expect(states.locator("[data-state=unsafe]")).to_contain_text("native thread `python` alive after import")
    expect(states.locator("[data-state=safe]")).to_contain_text("pandas 2.2.3 safe · reused from an earlier probe")
    expect(states.locator("[data-state=queued]")).to_have_text("requests 2.32.3 queued")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
    screenshot(page, f"progress-{size}")

    complete(audit, "requests", verdict="caution", findings=(native_thread("pool-1"),), cached=False)

    # The finding lands on the page without a reload; the unsafe one stays first.
    expect(states.locator("[data-state=caution]")).to_contain_text("native thread `pool-1` alive after import")
    expect(page.get_by_text("3 of 3 distributions analysed (1 reused from earlier probes)")).to_be_visible()
    expect(states.locator("li.dist-state").first).to_have_attribute("data-state", "unsafe")
    assert page.evaluate("window.notReloaded") is True
