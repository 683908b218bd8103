"""auditor/store.py: the database as the pipeline's ResultStore."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from auditor.core.cache import ResultStore
from auditor.models import ProbeRecord
from auditor.store import DatabaseResultStore
from tests.probe_results import native_thread, probe_key, probe_result, verdict_of

pytestmark = pytest.mark.django_db


def test_database_result_store_returns_what_was_put() -> None:
    store: ResultStore = DatabaseResultStore(verdict_of)
    result = probe_result(findings=(native_thread(),), fork_aware=True)

    store.put(probe_key(), result)

    assert store.get(probe_key()) == result


def test_database_result_store_misses_an_unknown_key() -> None:
    store = DatabaseResultStore(verdict_of)
    store.put(probe_key(), probe_result())

    assert store.get(probe_key(version="0.1")) is None
    assert store.get(probe_key(deep=False)) is None


def test_database_result_store_stores_the_verdict_beside_the_result() -> None:
    DatabaseResultStore(verdict_of).put(probe_key(), probe_result(findings=(native_thread(),)))

    assert ProbeRecord.objects.get().verdict == "unsafe"


def test_database_result_store_shares_index_results_between_users(alice: User, bob: User) -> None:
    DatabaseResultStore(verdict_of, owner=alice).put(probe_key(), probe_result())

    assert DatabaseResultStore(verdict_of, owner=bob).get(probe_key()) == probe_result()
    assert ProbeRecord.objects.get().owner is None


def test_database_result_store_gives_a_private_result_back_only_to_its_owner(alice: User, bob: User) -> None:
    key = probe_key("mylib", origin="upload:alice")
    DatabaseResultStore(verdict_of, owner=alice).put(key, probe_result("mylib"))

    assert DatabaseResultStore(verdict_of, owner=alice).get(key) == probe_result("mylib")
    assert DatabaseResultStore(verdict_of, owner=bob).get(key) is None
    assert DatabaseResultStore(verdict_of).get(key) is None


def test_database_result_store_put_twice_keeps_the_newest_result() -> None:
    store = DatabaseResultStore(verdict_of)
    store.put(probe_key(), probe_result(findings=(native_thread(),)))

    store.put(probe_key(), probe_result())

    assert store.get(probe_key()) == probe_result()
    assert ProbeRecord.objects.get().verdict == "safe"


def test_database_result_store_treats_an_unreadable_stored_result_as_a_miss() -> None:
    store = DatabaseResultStore(verdict_of)
    store.put(probe_key(), probe_result())
    ProbeRecord.objects.update(result={"schema": "from the future"})

    assert store.get(probe_key()) is None
