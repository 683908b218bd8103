"""auditor/services.py: storing probe results and moving audits through their states."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connections

from auditor.core.findings import (
    AtforkHandler,
    AuditReport,
    Environment,
    ImportFailure,
    SocketOnImport,
    Verdict,
)
from auditor.models import Audit, AuditDistribution, FindingRecord, ProbeRecord
from auditor.services import (
    audit_create,
    audit_distribution_complete,
    audit_graph_store,
    audit_mark_done,
    audit_mark_failed,
    audit_mark_running,
    probe_record_store,
)
from tests.probe_results import native_thread, probe_key, probe_result

pytestmark = pytest.mark.django_db


def test_probe_record_store_keeps_result_verdict_and_finding_columns() -> None:
    socket = SocketOnImport(family="AF_INET", open_after_import=True, module="numpy.net")
    result = probe_result(findings=(native_thread(), socket), fork_aware=True)

    record = probe_record_store(key=probe_key(), result=result, verdict=Verdict.UNSAFE)

    record.refresh_from_db()
    assert (record.name, record.verdict, record.fork_aware, record.sandbox) == ("numpy", "unsafe", True, "bwrap")
    assert record.result == result.to_dict()
    thread, sock = record.findings.order_by("id")
    assert (thread.kind, thread.thread, thread.native, thread.alive_after_import) == (
        "thread-on-import",
        "python",
        True,
        True,
    )
    assert thread.module == "numpy._core._multiarray_umath"
    assert thread.data == native_thread().to_dict()
    assert (sock.kind, sock.thread, sock.native, sock.alive_after_import) == ("socket-on-import", "", None, True)


def test_probe_record_store_twice_replaces_the_record_and_rebuilds_its_findings() -> None:
    first = probe_record_store(
        key=probe_key(), result=probe_result(findings=(native_thread("a"), native_thread("b"))), verdict="unsafe"
    )
    atfork = AtforkHandler(module="numpy", hooks=("after_in_child",))

    second = probe_record_store(key=probe_key(), result=probe_result(findings=(atfork,)), verdict="safe")

    assert second.pk == first.pk
    assert ProbeRecord.objects.count() == 1
    assert list(FindingRecord.objects.values_list("kind", flat=True)) == ["atfork-handler"]
    assert ProbeRecord.objects.get().verdict == "safe"


def test_probe_record_store_canonicalizes_the_name() -> None:
    record = probe_record_store(key=probe_key("Sentry_SDK"), result=probe_result("sentry-sdk"), verdict="safe")

    assert record.name == "sentry-sdk"


def test_probe_record_store_rejects_an_unknown_verdict() -> None:
    with pytest.raises(ValueError):
        probe_record_store(key=probe_key(), result=probe_result(), verdict="fine")
    assert not ProbeRecord.objects.exists()


def test_probe_record_store_gives_index_results_no_owner(alice: User) -> None:
    record = probe_record_store(key=probe_key(), result=probe_result(), verdict="safe", owner=alice)

    assert record.owner is None


def test_probe_record_store_keeps_the_owner_of_an_uploaded_wheel(alice: User) -> None:
    record = probe_record_store(
        key=probe_key(origin="upload:alice"), result=probe_result(), verdict="safe", owner=alice
    )

    assert record.owner == alice


def test_probe_record_store_keeps_private_and_public_results_of_one_name_apart(alice: User) -> None:
    probe_record_store(key=probe_key(), result=probe_result(), verdict="safe")
    probe_record_store(
        key=probe_key(origin="upload:alice"),
        result=probe_result(findings=(native_thread(),)),
        verdict="unsafe",
        owner=alice,
    )

    assert ProbeRecord.objects.get(origin="index").verdict == "safe"
    assert ProbeRecord.objects.get(origin="upload:alice").verdict == "unsafe"


def test_probe_record_store_accepts_nul_characters_chosen_by_package_code() -> None:
    failure = ImportFailure(module="evil", reason="import-error", message="bad\x00byte")
    result = probe_result("evil", findings=(native_thread("thr\x00ead", module="evil"), failure))

    record = probe_record_store(key=probe_key("evil"), result=result, verdict="unsafe")

    record.refresh_from_db()
    assert record.findings.get(kind="thread-on-import").thread == "thr\ufffdead"
    assert "\x00" not in str(record.result)


def test_probe_record_store_truncates_long_thread_names_in_the_column_only() -> None:
    long_name = "t" * 500
    record = probe_record_store(
        key=probe_key(), result=probe_result(findings=(native_thread(long_name),)), verdict="unsafe"
    )

    finding = record.findings.get()
    assert len(finding.thread) == 200
    assert finding.data["thread"] == long_name


@pytest.mark.django_db(transaction=True)
def test_probe_record_store_concurrent_calls_for_one_key_leave_one_record() -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def store(index: int) -> None:
        try:
            barrier.wait()
            findings = tuple(native_thread(f"worker-{index}-{n}") for n in range(3))
            probe_record_store(key=probe_key(), result=probe_result(findings=findings), verdict="unsafe")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=store, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    record = ProbeRecord.objects.get()
    # The findings are those of exactly one call: no mixture, no duplicates.
    threads_stored = sorted(record.findings.values_list("thread", flat=True))
    assert len(threads_stored) == 3
    assert len({name.rsplit("-", 1)[0] for name in threads_stored}) == 1


def test_audit_create_makes_a_queued_audit(alice: User) -> None:
    audit = audit_create(owner=alice, input_kind="requirements", input_text="numpy==2.4.6\n", options={"shallow": True})

    assert (audit.status, audit.owner, audit.options) == ("queued", alice, {"shallow": True})
    assert audit.progress_done == audit.progress_total == 0


def test_audit_create_rejects_wheel_input_that_is_not_a_list_of_names() -> None:
    with pytest.raises(ValueError):
        audit_create(owner=None, input_kind="wheels", input_text='{"a": 1}')


def test_audit_create_rejects_an_unknown_input_kind() -> None:
    with pytest.raises(ValueError):
        audit_create(owner=None, input_kind="lockfile", input_text="")


def test_audit_mark_running_claims_a_queued_audit_once() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="numpy\n")

    assert audit_mark_running(audit_id=audit.pk) is True
    assert audit_mark_running(audit_id=audit.pk) is False
    audit.refresh_from_db()
    assert audit.status == "running"
    assert audit.started is not None


GRAPH = {
    "direct": ["Pandas"],
    "edges": [["pandas", "numpy"], ["pandas", "python-dateutil"]],
    "pins": {"pandas": "2.2.3", "numpy": "2.4.6", "python_dateutil": "2.9.0"},
}


def test_audit_graph_store_creates_one_pending_distribution_per_pin() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="pandas\n")

    assert audit_graph_store(audit_id=audit.pk, graph=GRAPH) == 3

    audit.refresh_from_db()
    assert audit.progress_total == 3
    assert audit.graph["direct"] == ["pandas"]
    rows = list(audit.distributions.values_list("name", "version", "direct", "status"))
    assert rows == [
        ("numpy", "2.4.6", False, "pending"),
        ("pandas", "2.2.3", True, "pending"),
        ("python-dateutil", "2.9.0", False, "pending"),
    ]


def test_audit_graph_store_twice_keeps_completed_distributions() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="pandas\n")
    audit_graph_store(audit_id=audit.pk, graph=GRAPH)
    numpy = audit.distributions.get(name="numpy")
    audit_distribution_complete(audit_distribution_id=numpy.pk, probe=None, cached=True)

    audit_graph_store(audit_id=audit.pk, graph=GRAPH)

    assert AuditDistribution.objects.filter(audit=audit).count() == 3
    assert audit.distributions.get(name="numpy").status == "done"


def test_audit_graph_store_rejects_a_direct_requirement_without_a_pin() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="pandas\n")

    with pytest.raises(ValueError, match="requests"):
        audit_graph_store(audit_id=audit.pk, graph={"direct": ["requests"], "edges": [], "pins": {}})


def test_audit_graph_store_refuses_an_unknown_audit() -> None:
    with pytest.raises(Audit.DoesNotExist):
        audit_graph_store(audit_id=uuid.uuid4(), graph=GRAPH)


def test_audit_distribution_complete_counts_progress_exactly_once() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="pandas\n")
    audit_graph_store(audit_id=audit.pk, graph=GRAPH)
    numpy = audit.distributions.get(name="numpy")
    probe = probe_record_store(key=probe_key(), result=probe_result(), verdict="safe")

    assert audit_distribution_complete(audit_distribution_id=numpy.pk, probe=probe, cached=False) is True
    assert audit_distribution_complete(audit_distribution_id=numpy.pk, probe=probe, cached=False) is False

    audit.refresh_from_db()
    numpy.refresh_from_db()
    assert audit.progress_done == 1
    assert (numpy.status, numpy.probe, numpy.cached) == ("done", probe, False)


def test_audit_distribution_complete_of_an_unknown_distribution_is_false() -> None:
    assert audit_distribution_complete(audit_distribution_id=123456, probe=None, cached=False) is False


def _report(verdict: Verdict) -> AuditReport:
    return AuditReport(
        verdict=verdict,
        environment=Environment(python="3.11.7", platform="linux-x86_64", sandbox="bwrap"),
        distributions=(),
    )


def test_audit_mark_done_stores_the_report_and_its_verdict() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="numpy\n")
    audit_mark_running(audit_id=audit.pk)

    assert audit_mark_done(audit_id=audit.pk, report=_report(Verdict.UNSAFE)) is True

    audit.refresh_from_db()
    assert (audit.status, audit.verdict) == ("done", "unsafe")
    assert audit.report == _report(Verdict.UNSAFE).to_dict()
    assert audit.finished is not None


def test_audit_mark_failed_does_not_overwrite_a_finished_audit() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="numpy\n")
    audit_mark_done(audit_id=audit.pk, report=_report(Verdict.SAFE))

    assert audit_mark_failed(audit_id=audit.pk, error="worker lost") is False

    audit.refresh_from_db()
    assert (audit.status, audit.error) == ("done", "")


def test_audit_mark_failed_records_the_error() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="numpy\n")
    audit_mark_running(audit_id=audit.pk)

    assert audit_mark_failed(audit_id=audit.pk, error="resolution failed: no numpy==99") is True

    audit.refresh_from_db()
    assert (audit.status, audit.error) == ("failed", "resolution failed: no numpy==99")
    assert audit.failure_code == Audit.FailureCode.INTERNAL  # the server's fault unless the caller says otherwise
    assert audit.verdict is None


def test_audit_mark_failed_records_the_failure_code() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="numpy\n")

    assert audit_mark_failed(audit_id=audit.pk, error="no numpy==99", code=Audit.FailureCode.RESOLUTION_FAILED)

    audit.refresh_from_db()
    assert (audit.status, audit.failure_code) == ("failed", "resolution-failed")


def test_a_result_with_a_long_compressed_wheel_tag_is_stored() -> None:
    # semgrep 1.187.0's wheel: cp39.cp310.cp311.cp312.cp313.cp314.py39.py310.py311.py312.py313.py314-none-… (329).
    tag = (
        ".".join(f"cp3{minor}" for minor in range(8, 15))
        + "-none-"
        + ".".join(f"manylinux_2_{n}_x86_64" for n in range(17, 30))
    )
    key = dataclasses.replace(probe_key("semgrep", "1.187.0"), wheel_tag=tag)

    record = probe_record_store(key=key, result=probe_result("semgrep", "1.187.0"), verdict="safe")

    assert len(tag) > 255
    assert ProbeRecord.objects.get(pk=record.pk).wheel_tag == tag


def test_the_graph_is_stored_with_its_private_distributions_in_one_write() -> None:
    audit = audit_create(owner=None, input_kind="requirements", input_text="x\n", options={"shallow": True})
    origins = {"requests": "upload:local:ab"}

    audit_graph_store(audit_id=audit.pk, graph=GRAPH, origins=origins)

    audit.refresh_from_db()
    assert audit.graph["pins"] and audit.options == {"shallow": True, "origins": origins}
