"""Handing out a crawl's projects: the driver and every worker that ends an audit call `crawl_advance`, at any time
and at once, and the crawl's concurrency must hold; an ended audit settles its item with the version it resolved and
hands out the next project. On SQLite here, on PostgreSQL in the suite's second run."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import connection

from auditor import crawl as crawl_module
from auditor import tasks
from auditor.crawl import CrawlOptions, crawl_advance, crawl_audit_ended, crawl_open
from auditor.models import Audit, CrawlItem
from auditor.services import audit_graph_store, audit_mark_done, audit_mark_failed, audit_mark_running
from tests.webui.reports import pandas_report, queued_audit

pytestmark = pytest.mark.django_db(transaction=True)  # committed, as the callers' own transactions are


def statuses(crawl_id: int) -> dict[str, str]:
    return dict(CrawlItem.objects.filter(crawl_id=crawl_id).values_list("project", "status"))


def running_with_audit(crawl_id: int, project: str, *, resolved: str | None) -> Audit:
    """The item of `project` as its crawl_item task leaves it: running, with its audit submitted (and resolved)."""
    audit = queued_audit(None, text=f"{project}\n")
    audit_mark_running(audit_id=audit.pk)
    if resolved:
        audit_graph_store(audit_id=audit.pk, graph={"direct": [project], "edges": [], "pins": {project: resolved}})
    CrawlItem.objects.filter(crawl_id=crawl_id, project=project).update(status=CrawlItem.Status.RUNNING, audit=audit)
    return audit


def test_callers_at_once_hand_out_no_more_than_the_concurrency(monkeypatch):
    crawl, _ = crawl_open(projects=[f"handout-{n}" for n in range(12)], options=CrawlOptions(concurrency=3))
    callers = 8
    ready = threading.Barrier(callers)
    # Two callers that both counted the room before either handed anything out would each hand out three: a caller
    # that has counted waits for a second one to count too. Under the crawl's lock no second one can, and the first
    # goes on when the wait gives up (the test fails at once, without the lock).
    counted = threading.Barrier(2, timeout=5)
    room = crawl_module._room

    def room_then_wait(crawl):
        free = room(crawl)
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait()
        return free

    monkeypatch.setattr(crawl_module, "_room", room_then_wait)
    errors: list[BaseException] = []

    def advance() -> None:
        try:
            ready.wait()
            crawl_advance(crawl_id=crawl.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=advance) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    handed = statuses(crawl.pk)
    assert sorted(project for project, status in handed.items() if status == "queued") == [
        "handout-0",
        "handout-1",
        "handout-2",
    ]


def test_an_ended_audit_settles_its_item_with_the_version_it_resolved_and_hands_out_the_next():
    projects = ["ended-app", "ended-big", "ended-next", "ended-last"]
    crawl, _ = crawl_open(projects=projects, options=CrawlOptions(concurrency=2))
    crawl_advance(crawl_id=crawl.pk)
    app = running_with_audit(crawl.pk, "ended-app", resolved="2.1")
    big = running_with_audit(crawl.pk, "ended-big", resolved=None)

    crawl_audit_ended(audit_id=app.pk)  # not over yet: nothing moves
    unchanged = statuses(crawl.pk)
    audit_mark_done(audit_id=app.pk, report=pandas_report())
    crawl_audit_ended(audit_id=app.pk)
    after_app = statuses(crawl.pk)
    audit_mark_failed(audit_id=big.pk, error="the set of ended-big 3.0 has 140 distributions", code="too-large")
    crawl_audit_ended(audit_id=big.pk)

    assert unchanged == {
        "ended-app": "running",
        "ended-big": "running",
        "ended-next": "pending",
        "ended-last": "pending",
    }
    assert after_app == {"ended-app": "done", "ended-big": "running", "ended-next": "queued", "ended-last": "pending"}
    items = {item.project: item for item in CrawlItem.objects.filter(crawl=crawl)}
    assert (items["ended-app"].outcome, items["ended-app"].version) == ("probed", "2.1")
    assert (items["ended-big"].status, items["ended-big"].outcome) == ("skipped", "too-large")
    assert items["ended-big"].reason == "the set of ended-big 3.0 has 140 distributions"
    assert items["ended-last"].status == "queued"


def test_an_audit_that_is_no_crawls_moves_nothing():
    crawl, _ = crawl_open(projects=["alone-a", "alone-b"], options=CrawlOptions(concurrency=1))
    other = queued_audit(None)
    audit_mark_running(audit_id=other.pk)
    audit_mark_done(audit_id=other.pk, report=pandas_report())

    crawl_audit_ended(audit_id=other.pk)

    assert statuses(crawl.pk) == {"alone-a": "pending", "alone-b": "pending"}


def test_a_crawl_resumed_with_another_concurrency_goes_on_at_the_new_one():
    projects = ["again-a", "again-b", "again-c"]
    crawl, resumed = crawl_open(projects=projects, options=CrawlOptions(concurrency=1))
    crawl_advance(crawl_id=crawl.pk)
    assert not resumed and statuses(crawl.pk) == {"again-a": "queued", "again-b": "pending", "again-c": "pending"}

    again, resumed = crawl_open(projects=projects, options=CrawlOptions(concurrency=3))
    crawl_advance(crawl_id=again.pk)

    assert resumed and again.pk == crawl.pk
    assert statuses(crawl.pk) == {"again-a": "queued", "again-b": "queued", "again-c": "queued"}
    other, resumed = crawl_open(projects=projects, options=CrawlOptions(concurrency=3, shallow=True))
    assert not resumed and other.pk != crawl.pk  # what is crawled changed: another crawl


def crawl_of(*projects: str) -> int:
    crawl, _ = crawl_open(projects=list(projects), options=CrawlOptions(concurrency=1))
    crawl_advance(crawl_id=crawl.pk)
    return crawl.pk


def test_a_crawls_audit_that_fails_preparing_hands_out_the_next_project():
    crawl_id = crawl_of("prep-first", "prep-next")
    audit = queued_audit(None, text="prep-first\n")  # its uploaded requirements are gone: preparing it raises
    CrawlItem.objects.filter(crawl_id=crawl_id, project="prep-first").update(status="running", audit=audit)

    tasks.prepare_audit(str(audit.pk))

    assert statuses(crawl_id) == {"prep-first": "skipped", "prep-next": "queued"}


def test_a_crawls_audit_whose_analysis_fails_unexpectedly_hands_out_the_next_project():
    crawl_id = crawl_of("analysis-first", "analysis-next")
    audit = running_with_audit(crawl_id, "analysis-first", resolved="1.0")
    # Its stored graph loses its edges: analysing its distribution raises KeyError, which no step expects.
    Audit.objects.filter(pk=audit.pk).update(graph={"direct": ["analysis-first"], "pins": {"analysis-first": "1.0"}})
    [distribution] = audit.distributions.all()

    tasks.analyse_distribution(str(distribution.pk))

    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.FAILED
    assert statuses(crawl_id) == {"analysis-first": "skipped", "analysis-next": "queued"}
