"""A repeated audit whose every result is known finishes in the request that submits it (issue 14, item 6): no task,
so no wait for the embedded broker's next poll; the page it redirects to is the report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor import workflow
from auditor.core.environments import interpreter_info
from auditor.core.pipeline import pin_key
from auditor.models import Audit, ProbeRecord
from auditor.services import audit_distribution_complete, audit_graph_store, audit_mark_running, probe_record_store
from tests.probe_results import native_thread, probe_result

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db

LOCK = "fa-app==1.0\nfa-blas==2.0\n"  # every distribution of the set pinned: it can only resolve to itself
GRAPH = {"direct": ["fa-app"], "edges": [["fa-app", "fa-blas"]], "pins": {"fa-app": "1.0", "fa-blas": "2.0"}}


def store_results(audit: Audit) -> dict[str, int]:
    """What a worker stored when it probed the set: fa-blas leaves an OpenBLAS-like native thread."""
    options = workflow.audit_options(audit)
    interpreter = interpreter_info(options.python)
    ids = {}
    for name, version in GRAPH["pins"].items():
        key = pin_key(name, version, interpreter=interpreter, options=options, origins={})
        findings = (native_thread(),) if name == "fa-blas" else ()
        record = probe_record_store(
            key=dataclasses.replace(key, wheel_tag="py3-none-any"),
            result=probe_result(name, version, findings),
            verdict="unsafe" if findings else "safe",
        )
        ids[name] = record.pk
    return ids


def audited_before(owner: User, text: str = LOCK) -> Audit:
    """The first audit of `text`, finished as the worker finishes one: resolved, probed, reported."""
    audit = workflow.audit_submit(owner=owner, requirements=[("requirements.txt", text.encode())])
    audit_mark_running(audit_id=audit.pk)
    audit_graph_store(audit_id=audit.pk, graph=GRAPH)
    stored = store_results(audit)
    for distribution in audit.distributions.all():
        record = ProbeRecord.objects.get(pk=stored[distribution.name])
        audit_distribution_complete(audit_distribution_id=distribution.pk, probe=record, cached=False)
    assert workflow.audit_finish(audit_id=audit.pk)
    return audit


def submit(client: Client, text: str, capture: Callable) -> tuple[Audit, int]:  # type: ignore[type-arg]
    """Submit `text` with the web form; the audit and the number of tasks sent for it."""
    with capture() as callbacks:
        response = client.post("/", {"requirements": text})
    assert response.status_code == 302, response.content
    audit = Audit.objects.order_by("-created").first()
    assert audit is not None and response["Location"] == f"/audits/{audit.pk}/"
    return audit, len(callbacks)


def test_a_repeat_of_a_known_set_is_done_when_the_submission_returns(
    client_for: ClientFor, alice: User, django_capture_on_commit_callbacks: Callable, settings: Any
) -> None:  # type: ignore[type-arg]
    settings.FORKAUDIT_VULNERABILITY_SERVICE = "none"
    first = audited_before(alice)
    client = client_for(alice)

    repeat, tasks = submit(client, LOCK, django_capture_on_commit_callbacks)

    # Finished before the embedded broker's next poll could deliver anything: no task was even sent.
    assert (repeat.status, tasks) == ("done", 0)
    assert repeat.pk != first.pk
    assert (repeat.progress_done, repeat.progress_total) == (2, 2)
    assert repeat.report["verdict"] == "unsafe"
    assert {d["name"]: d["cached"] for d in repeat.report["distributions"]} == {"fa-app": True, "fa-blas": True}
    assert [d["paths"] for d in repeat.report["distributions"] if d["name"] == "fa-blas"] == [[["fa-app", "fa-blas"]]]
    page = client.get(f"/audits/{repeat.pk}/").content.decode()
    assert "data-culprit" in page and "progress.js" not in page  # the report at once, no progress to poll


def test_a_repeat_whose_vulnerabilities_are_looked_up_goes_to_a_worker(
    client_for: ClientFor, alice: User, django_capture_on_commit_callbacks: Callable, settings: Any
) -> None:  # type: ignore[type-arg]
    # The lookup waits on the network: not in a web request, and not where a dying process would strand the audit.
    settings.FORKAUDIT_VULNERABILITY_SERVICE = "osv"
    audited_before(alice)

    repeat, tasks = submit(client_for(alice), LOCK, django_capture_on_commit_callbacks)

    assert (repeat.status, tasks) == ("queued", 1)


@pytest.mark.parametrize(
    "text",
    [
        "fa-app==1.0\n",  # fa-blas is not pinned by the input: the index may resolve it otherwise now
        "fa-app>=1.0\nfa-blas==2.0\n",  # a range: the index may have a newer fa-app now
    ],
    ids=["unpinned-dependency", "range"],
)
def test_an_input_that_does_not_pin_everything_goes_to_a_worker(
    client_for: ClientFor, alice: User, django_capture_on_commit_callbacks: Callable, text: str
) -> None:  # type: ignore[type-arg]
    audited_before(alice, text)  # the very same input, audited before, and every result stored

    repeat, tasks = submit(client_for(alice), text, django_capture_on_commit_callbacks)

    assert (repeat.status, tasks) == ("queued", 1)


def test_another_input_goes_to_a_worker(
    client_for: ClientFor, alice: User, django_capture_on_commit_callbacks: Callable
) -> None:  # type: ignore[type-arg]
    audited_before(alice)

    repeat, tasks = submit(client_for(alice), LOCK + "# another file\n", django_capture_on_commit_callbacks)

    assert (repeat.status, tasks) == ("queued", 1)


def test_a_result_no_longer_stored_sends_the_audit_to_a_worker(
    client_for: ClientFor, alice: User, django_capture_on_commit_callbacks: Callable
) -> None:  # type: ignore[type-arg]
    audited_before(alice)
    ProbeRecord.objects.filter(name="fa-blas").delete()  # e.g. a new probe version: results are keyed by it

    repeat, tasks = submit(client_for(alice), LOCK, django_capture_on_commit_callbacks)

    assert (repeat.status, tasks) == ("queued", 1)
