"""auditor/selectors.py: who sees which results and audits (docs/sandbox.md)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, connections, transaction

from auditor.core.cache import ProbeKey
from auditor.core.findings import Finding, ProbeResult, SocketOnImport
from auditor.models import Audit, ProbeRecord, ResultsVersion
from auditor.selectors import (
    audit_distribution_list,
    audit_get_for_viewer,
    audit_list_for_viewer,
    package_name_suggestions,
    package_search,
    package_search_count,
    package_version_detail,
    package_versions,
    packages_by_verdict,
    probe_record_get,
)
from auditor.services import (
    audit_create,
    audit_distribution_complete,
    audit_graph_store,
    probe_record_store,
    probe_records_add,
)
from tests.probe_results import native_thread, probe_key, probe_result

pytestmark = pytest.mark.django_db


def _public(name: str, version: str, *findings: Finding, verdict: str = "safe") -> ProbeRecord:
    return probe_record_store(
        key=probe_key(name, version), result=probe_result(name, version, findings), verdict=verdict
    )


def _private(owner: User, name: str, version: str, *findings: Finding, verdict: str = "unsafe") -> ProbeRecord:
    return probe_record_store(
        key=probe_key(name, version, origin=f"upload:{owner.username}"),
        result=probe_result(name, version, findings),
        verdict=verdict,
        owner=owner,
    )


@pytest.fixture
def alice_private_requests(alice: User) -> ProbeRecord:
    """Alice uploaded her own (patched) `requests` wheel; the public `requests` result is safe."""
    _public("requests", "2.32.3")
    return _private(alice, "requests", "2.32.3", native_thread("poller", module="requests"))


def test_probe_record_get_finds_the_record_of_exactly_one_key() -> None:
    record = _public("numpy", "2.4.6")

    assert probe_record_get(key=probe_key("NumPy", "2.4.6")) == record
    assert probe_record_get(key=probe_key("numpy", "2.4.6", deep=False)) is None


def test_package_search_shows_public_results_to_anonymous() -> None:
    _public("numpy", "2.4.6")

    assert [r.name for r in package_search(q="num", viewer=AnonymousUser())] == ["numpy"]


def test_package_search_matches_the_canonical_name() -> None:
    _public("sentry-sdk", "2.0.0")

    assert [r.name for r in package_search(q="Sentry_SDK")] == ["sentry-sdk"]


def test_package_search_hides_alice_private_result_from_bob_charlie_and_anonymous(
    alice_private_requests: ProbeRecord, bob: User, charlie: User
) -> None:
    for viewer in (bob, charlie, AnonymousUser(), None):
        records = list(package_search(q="requests", viewer=viewer))
        assert [(r.origin, r.verdict) for r in records] == [("index", "safe")]


def test_package_search_shows_alice_her_private_result_after_the_public_one(
    alice: User, alice_private_requests: ProbeRecord
) -> None:
    records = list(package_search(q="requests", viewer=alice))

    assert [(r.origin, r.verdict) for r in records] == [("index", "safe"), ("upload:alice", "unsafe")]


def test_package_search_shows_each_user_only_their_own_private_result(
    alice: User, alice_private_requests: ProbeRecord, bob: User
) -> None:
    _private(bob, "requests", "2.32.3", verdict="caution")

    assert [r.origin for r in package_search(q="requests", viewer=bob)] == ["index", "upload:bob"]
    assert [r.origin for r in package_search(q="requests", viewer=alice)] == ["index", "upload:alice"]


def test_package_search_by_verdict_does_not_leak_a_private_unsafe_result(
    alice_private_requests: ProbeRecord, bob: User
) -> None:
    assert list(package_search(verdict="unsafe", viewer=bob)) == []
    assert [r.origin for r in package_search(verdict="unsafe", viewer=alice_private_requests.owner)] == ["upload:alice"]


def test_package_search_by_thread_name_matches_part_of_it_case_insensitively() -> None:
    _public("pyarrow", "18.0.0", native_thread("jemalloc_bg_thd", module="pyarrow.lib"), verdict="unsafe")
    _public("numpy", "2.4.6", native_thread("python"), verdict="unsafe")

    assert [r.name for r in package_search(thread="JEMALLOC")] == ["pyarrow"]


def test_package_search_by_thread_does_not_reveal_private_thread_names(
    alice_private_requests: ProbeRecord, charlie: User
) -> None:
    assert list(package_search(thread="poller", viewer=charlie)) == []


def test_package_search_by_kind_returns_each_record_once() -> None:
    socket = SocketOnImport(family="AF_INET", open_after_import=False, module="telemetry")
    _public("telemetry", "1.0", socket, socket, native_thread("t1"), verdict="caution")
    _public("numpy", "2.4.6", native_thread("python"), verdict="unsafe")

    assert [r.name for r in package_search(kind="socket-on-import")] == ["telemetry"]
    assert [r.name for r in package_search(kind="thread-on-import")] == ["numpy", "telemetry"]


def test_package_search_in_local_mode_shows_private_results_without_an_owner() -> None:
    probe_record_store(key=probe_key("mylib", "1.0", origin="upload:local"), result=probe_result(), verdict="safe")

    assert list(package_search(q="mylib")) == []
    assert [r.origin for r in package_search(q="mylib", local_mode=True)] == ["upload:local"]


def test_package_search_leaves_the_stored_result_out() -> None:
    _public("numpy", "2.4.6")

    (record,) = package_search(q="numpy")

    assert "result" in record.get_deferred_fields()


# --- the kept names and lists follow every write ------------------------------------------------------------------


def _version() -> tuple[int, int] | None:
    return ResultsVersion.objects.filter(pk=1).values_list("changes", "removals").first()


def _delete_raw() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auditor_proberecord WHERE name = %s", ["numpy"])


_LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)

WRITES: dict[str, tuple[Callable[[], object], bool]] = {  # what writes, and whether it removes a result
    "stored": (lambda: _public("six", "1.17.0"), False),
    "replaced": (lambda: _public("numpy", "2.4.6", verdict="unsafe"), False),
    "imported": (
        lambda: probe_records_add(entries=[(probe_key("six"), probe_result("six"), "safe", _LONG_AGO)]),
        False,
    ),
    "updated in bulk": (lambda: ProbeRecord.objects.update(verdict="caution"), False),
    "deleted": (lambda: ProbeRecord.objects.filter(name="numpy").delete(), True),
    "deleted with its owner": (lambda: User.objects.filter(username="alice").delete(), True),
    "deleted by a raw statement": (_delete_raw, True),
    "renamed": (lambda: ProbeRecord.objects.filter(name="numpy").update(name="numpy2"), True),
    "saved as it was, as the admin saves it": (lambda: ProbeRecord.objects.get(name="numpy").save(), False),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_write_to_the_results_changes_their_version_and_a_removal_its_removals(
    write: str, alice_private_requests: ProbeRecord
) -> None:
    _public("numpy", "2.4.6")
    before = _version()
    do, removes = WRITES[write]

    do()

    after = _version()
    assert before is not None and after is not None
    assert after[0] != before[0]
    assert (after[1] != before[1]) == removes


# What one transaction does, committed: whether it removes a result.
TRANSACTIONS: dict[str, tuple[list[Callable[[], object]], bool]] = {
    "a change": ([lambda: _public("six", "1.17.0")], False),
    "changes": ([lambda: _public("six", "1.17.0"), lambda: ProbeRecord.objects.update(verdict="caution")], False),
    "a change, then a removal": ([lambda: _public("six", "1.17.0"), WRITES["deleted"][0]], True),
    "a removal, then a change": ([WRITES["deleted"][0], lambda: _public("six", "1.17.0")], True),
    "a change, then a rename": ([lambda: _public("six", "1.17.0"), WRITES["renamed"][0]], True),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("writes", TRANSACTIONS)
def test_a_committed_transaction_changes_the_version_and_the_removals_if_it_removed_a_result(writes: str) -> None:
    _public("numpy", "2.4.6")
    before = _version()
    steps, removes = TRANSACTIONS[writes]

    with transaction.atomic():
        for step in steps:
            step()

    after = _version()
    assert before is not None and after is not None
    assert after[0] != before[0]
    assert (after[1] != before[1]) == removes


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_stores_results_does_not_keep_others_from_storing_theirs_until_it_commits() -> None:
    """An import (one transaction) that stored a first batch, then a worker that stores a result of the import's next
    batch and commits, then the import's next batch: with the version's row taken at the first write, the worker
    waited for the import to end, and the import for the worker's result (a deadlock)."""
    _public("pandas", "2.2.3")
    before = _version()
    first_batch_stored, worker_done, next_batch = threading.Event(), threading.Event(), threading.Event()
    added: list[int] = []
    errors: list[BaseException] = []

    def entry(name: str, version: str) -> tuple[ProbeKey, ProbeResult, str, datetime]:
        return (probe_key(name, version), probe_result(name, version), "safe", _LONG_AGO)

    def import_() -> None:
        try:
            with transaction.atomic():
                added.append(probe_records_add(entries=[entry("numpy", "2.4.6")]))
                first_batch_stored.set()
                if not next_batch.wait(timeout=60):
                    raise TimeoutError("never told to store the next batch")
                added.append(probe_records_add(entries=[entry("six", "1.17.0")]))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            first_batch_stored.set()
            connections.close_all()

    def worker() -> None:
        try:
            _public("six", "1.17.0", verdict="unsafe")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            worker_done.set()
            connections.close_all()

    importing = threading.Thread(target=import_)
    storing = threading.Thread(target=worker)
    importing.start()
    try:
        assert first_batch_stored.wait(timeout=60)
        storing.start()
        stored_while_importing = worker_done.wait(timeout=30)
        during = _version()
    finally:
        next_batch.set()
        importing.join(timeout=60)
        if storing.ident is not None:
            storing.join(timeout=60)

    assert stored_while_importing, "the worker's store waited for the import's transaction"
    assert errors == []
    assert before is not None and during is not None
    assert during[0] != before[0]  # the worker's commit changed it
    after = _version()
    assert after is not None and after[0] != during[0]  # and the import's
    assert added == [1, 0]  # the worker's result was there first
    assert ProbeRecord.objects.get(name="six").verdict == "unsafe"


def test_a_deleted_result_leaves_the_search_its_count_and_the_suggestions() -> None:
    _public("numpy", "2.4.6")
    _public("numba", "0.60.0")
    assert package_search_count(q="num") == 2
    assert package_name_suggestions(q="numpyy") == ["numpy"]

    ProbeRecord.objects.filter(name="numpy").delete()

    assert [r.name for r in package_search(q="num")] == ["numba"]
    assert package_search_count(q="num") == package_search_count() == 1
    assert package_name_suggestions(q="numpyy") == []


def test_the_count_of_every_public_result_follows_an_import_of_older_results_and_a_deletion(alice: User) -> None:
    _public("numpy", "2.4.6")
    _private(alice, "mylib", "1.0")
    assert package_search_count() == 1
    assert package_search_count(viewer=alice) is None  # her own results too: the database counts them

    probe_records_add(entries=[(probe_key("six", "1.17.0"), probe_result("six", "1.17.0"), "safe", _LONG_AGO)])
    assert package_search_count() == package_search().count() == 2

    ProbeRecord.objects.filter(name="numpy").delete()
    assert package_search_count() == package_search().count() == 1


def test_a_result_committed_after_one_with_a_greater_id_is_found() -> None:
    numpy = _public("numpy", "2.4.6")
    first = ProbeRecord.objects.get(pk=numpy.pk)
    first.pk, first.name = numpy.pk + 10, "pandas"
    first.save(force_insert=True)
    assert package_search_count(q="pandas") == 1  # the names read up to id + 10

    late = ProbeRecord.objects.get(pk=numpy.pk)  # its transaction took a smaller id and commits now
    late.pk, late.name, late.created = numpy.pk + 5, "requests", _LONG_AGO
    late.save(force_insert=True)

    assert [r.name for r in package_search(q="requests")] == ["requests"]
    assert package_search_count(q="requests") == 1
    assert package_search_count() == 3


def test_the_fork_unsafe_list_follows_a_verdict_changed_in_bulk() -> None:
    _public("numpy", "2.4.6", native_thread(), verdict="unsafe")
    assert [entry.name for entry in packages_by_verdict()] == ["numpy"]

    ProbeRecord.objects.filter(name="numpy").update(verdict="safe")  # neither a new id nor a new time

    assert packages_by_verdict() == []


def test_package_versions_lists_newest_version_first() -> None:
    for version in ("1.9.0", "1.10.0", "1.2.0"):
        _public("numpy", version)

    assert [r.version for r in package_versions(name="NumPy")] == ["1.10.0", "1.9.0", "1.2.0"]


def test_package_versions_hides_private_results_from_others_and_never_lets_them_shadow(
    alice: User, alice_private_requests: ProbeRecord, bob: User
) -> None:
    assert [r.origin for r in package_versions(name="requests", viewer=bob)] == ["index"]
    assert [r.origin for r in package_versions(name="requests", viewer=alice)] == ["index", "upload:alice"]


def test_package_version_detail_shows_the_public_record_first_with_findings(
    alice: User, alice_private_requests: ProbeRecord
) -> None:
    records = package_version_detail(name="requests", version="2.32.3", viewer=alice)

    assert [(r.origin, r.verdict) for r in records] == [("index", "safe"), ("upload:alice", "unsafe")]
    assert [f.thread for f in records[1].findings.all()] == ["poller"]


def test_package_version_detail_of_only_a_private_record_is_empty_for_others(alice: User, bob: User) -> None:
    _private(alice, "mylib", "1.0")

    assert package_version_detail(name="mylib", version="1.0", viewer=bob) == []
    assert package_version_detail(name="mylib", version="1.0", viewer=AnonymousUser()) == []
    assert len(package_version_detail(name="mylib", version="1.0", viewer=alice)) == 1


def _audit(owner: User | None) -> Audit:
    return audit_create(owner=owner, input_kind="requirements", input_text="numpy\n")


def test_audit_get_for_viewer_shows_an_audit_to_its_owner_and_staff(alice: User, sam: User) -> None:
    audit = _audit(alice)

    assert audit_get_for_viewer(audit_id=audit.pk, viewer=alice, local_mode=False) == audit
    assert audit_get_for_viewer(audit_id=str(audit.pk), viewer=sam, local_mode=False) == audit


def test_audit_get_for_viewer_hides_an_audit_from_everybody_else(alice: User, bob: User, charlie: User) -> None:
    audit = _audit(alice)

    for viewer in (bob, charlie, AnonymousUser(), None):
        assert audit_get_for_viewer(audit_id=audit.pk, viewer=viewer, local_mode=False) is None
        # Local mode does not open other users' audits either.
        assert audit_get_for_viewer(audit_id=audit.pk, viewer=viewer, local_mode=True) is None


def test_audit_get_for_viewer_shows_an_ownerless_audit_only_in_local_mode(alice: User, sam: User) -> None:
    audit = _audit(None)

    assert audit_get_for_viewer(audit_id=audit.pk, viewer=AnonymousUser(), local_mode=True) == audit
    for viewer in (AnonymousUser(), alice, sam):
        assert audit_get_for_viewer(audit_id=audit.pk, viewer=viewer, local_mode=False) is None


@pytest.mark.parametrize("audit_id", ["not-a-uuid", "", uuid.uuid4()])
def test_audit_get_for_viewer_of_a_bad_or_unknown_id_is_none(audit_id: uuid.UUID | str, alice: User) -> None:
    assert audit_get_for_viewer(audit_id=audit_id, viewer=alice, local_mode=True) is None


def test_audit_list_for_viewer_applies_the_same_rules(alice: User, bob: User, sam: User) -> None:
    alices, bobs, ownerless = _audit(alice), _audit(bob), _audit(None)

    assert list(audit_list_for_viewer(viewer=alice, local_mode=False)) == [alices]
    assert set(audit_list_for_viewer(viewer=sam, local_mode=False)) == {alices, bobs}
    assert list(audit_list_for_viewer(viewer=AnonymousUser(), local_mode=False)) == []
    assert list(audit_list_for_viewer(viewer=None, local_mode=True)) == [ownerless]


def test_audit_distribution_list_filters_by_status() -> None:
    audit = _audit(None)
    audit_graph_store(audit_id=audit.pk, graph={"direct": ["a"], "edges": [["a", "b"]], "pins": {"a": "1", "b": "2"}})
    audit_distribution_complete(audit_distribution_id=audit.distributions.get(name="b").pk, probe=None, cached=True)

    assert [d.name for d in audit_distribution_list(audit_id=audit.pk)] == ["a", "b"]
    assert [d.name for d in audit_distribution_list(audit_id=audit.pk, status="pending")] == ["a"]
