"""auditor/dataset.py: public results exported as JSON Lines and imported into another installation."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import pytest
from django.contrib.auth.models import User

from auditor import dataset as dataset_module
from auditor.core.findings import AtforkHandler, ImportFailure, RuntimeThread
from auditor.core.probe import PROBE_VERSION
from auditor.dataset import DatasetError, ImportSummary, export_dataset, import_dataset
from auditor.models import INDEX_ORIGIN, FindingRecord, ProbeRecord
from auditor.services import probe_record_store, probe_records_add
from tests.probe_results import native_thread, probe_key, probe_result

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_probe_records_add_stores_new_results_with_their_findings_and_time() -> None:
    added = probe_records_add(entries=[(probe_key(), probe_result(findings=(native_thread(),)), "unsafe", WHEN)])

    record = ProbeRecord.objects.get()
    assert (added, record.name, record.verdict, record.created, record.owner) == (1, "numpy", "unsafe", WHEN, None)
    assert record.result == probe_result(findings=(native_thread(),)).to_dict()
    assert list(FindingRecord.objects.values_list("probe_id", "thread")) == [(record.pk, "python")]


def test_probe_records_add_keeps_what_is_stored_and_the_first_of_a_repeated_key() -> None:
    probe_records_add(entries=[(probe_key(), probe_result(), "safe", WHEN)])
    other = dataclasses.replace(probe_key(), python="3.12.1")

    added = probe_records_add(
        entries=[
            (probe_key(), probe_result(findings=(native_thread(),)), "unsafe", WHEN),
            (other, probe_result(), "safe", WHEN),
            (other, probe_result(findings=(native_thread(),)), "unsafe", WHEN),
        ]
    )

    assert added == 1
    assert sorted(ProbeRecord.objects.values_list("python", "verdict")) == [("3.11.7", "safe"), ("3.12.1", "safe")]
    assert not FindingRecord.objects.exists()


def test_probe_records_add_refuses_a_private_origin() -> None:
    with pytest.raises(ValueError, match="only public"):
        probe_records_add(entries=[(probe_key(origin="upload:1:ab"), probe_result(), "safe", WHEN)])
    assert not ProbeRecord.objects.exists()


# --- export and import -------------------------------------------------------------------------------------------


def _store_public_and_private(alice: User) -> None:
    """Public results of every finding kind a dataset carries, and two private ones: an uploaded wheel's and that of
    a distribution that required it."""
    static = RuntimeThread(call="threading.Thread", scope="function", module="sentry_sdk.worker", file="w.py", line=9)
    failed = ImportFailure(module="numpy.f2py", reason="error", message="No module named 'charset_normalizer'")
    probe_record_store(
        key=probe_key(), result=probe_result(findings=(native_thread(), static, failed)), verdict="unsafe"
    )
    probe_record_store(
        key=probe_key("sentry-sdk", "2.19.0", deep=False),
        result=probe_result("sentry-sdk", "2.19.0", (AtforkHandler(module="sentry_sdk", hooks=("after_in_child",)),)),
        verdict="safe",
    )
    probe_record_store(key=probe_key("six", "1.17.0"), result=probe_result("six", "1.17.0"), verdict="safe")
    upload = f"upload:{alice.pk}:{'ab' * 32}"
    probe_record_store(
        key=probe_key("secret-app", origin=upload), result=probe_result("secret-app"), verdict="safe", owner=alice
    )
    probe_record_store(
        key=probe_key("six", "1.17.0", origin=f"upload:{alice.pk}:requires:0123456789abcdef"),
        result=probe_result("six", "1.17.0", (native_thread("from-the-upload"),)),
        verdict="unsafe",
        owner=alice,
    )


def _public_records() -> list[tuple[Any, ...]]:
    """Everything an export promises to carry, record by record, findings' columns included."""
    records = ProbeRecord.objects.filter(origin=INDEX_ORIGIN).order_by("name", "version", "python", "deep")
    return [
        (
            *(getattr(record, field) for field in ("name", "version", "wheel_tag", "python", "platform")),
            *(getattr(record, field) for field in ("probe_version", "deep", "verdict", "fork_aware", "sandbox")),
            record.result,
            record.seconds,
            record.created,
            list(record.findings.values_list("kind", "module", "thread", "native", "alive_after_import", "data")),
        )
        for record in records
    ]


def _export() -> str:
    out = io.StringIO()
    export_dataset(out)
    return out.getvalue()


def _import(text: str) -> ImportSummary:
    return import_dataset(io.BytesIO(text.encode()))


def test_export_then_import_into_an_empty_database_gives_the_same_public_records_and_no_private_ones(alice):
    _store_public_and_private(alice)
    public = _public_records()
    dataset = _export()
    ProbeRecord.objects.all().delete()  # the other installation

    summary = _import(dataset)

    assert summary == ImportSummary(imported=3, kept=0)
    assert _public_records() == public
    assert not ProbeRecord.objects.exclude(origin=INDEX_ORIGIN).exists()
    assert "secret-app" not in dataset and "from-the-upload" not in dataset
    assert ProbeRecord.objects.filter(owner__isnull=False).count() == 0


def test_export_reads_the_results_in_one_query_not_one_each(alice, django_assert_max_num_queries):
    _store_public_and_private(alice)

    with django_assert_max_num_queries(1):
        lines = _export().splitlines()

    assert len(lines) == 4 and all(json.loads(line).get("result") for line in lines[1:])


def test_export_writes_a_header_with_format_and_producer_then_one_line_per_public_result(alice):
    _store_public_and_private(alice)

    header, *lines = [json.loads(line) for line in _export().splitlines()]

    assert header == {"format": "forkaudit-dataset/1", "producer": {"forkaudit": ANY, "probe_version": PROBE_VERSION}}
    assert [(line["name"], line["version"], line["deep"]) for line in lines] == [
        ("numpy", "2.4.6", True),
        ("sentry-sdk", "2.19.0", False),
        ("six", "1.17.0", True),
    ]
    numpy = lines[0]
    assert numpy["verdict"] == "unsafe"
    assert numpy["result"]["findings"][0]["mitigation"] == {"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True}
    assert [finding["kind"] for finding in numpy["result"]["findings"]] == [
        "thread-on-import",
        "runtime-thread",
        "import-error",
    ]


def test_importing_twice_changes_nothing(alice):
    _store_public_and_private(alice)
    dataset = _export()
    ProbeRecord.objects.all().delete()
    _import(dataset)
    before = list(ProbeRecord.objects.values_list("pk", "created").order_by("pk")), _public_records()

    summary = _import(dataset)

    assert summary == ImportSummary(imported=0, kept=3)
    assert (list(ProbeRecord.objects.values_list("pk", "created").order_by("pk")), _public_records()) == before


def test_a_record_already_stored_under_the_same_key_is_kept(alice):
    _store_public_and_private(alice)
    dataset = _export()
    ProbeRecord.objects.exclude(name="numpy").delete()
    ProbeRecord.objects.filter(name="numpy").update(verdict="safe", result=probe_result().to_dict())
    FindingRecord.objects.all().delete()
    ours = _public_records()

    summary = _import(dataset)

    assert summary == ImportSummary(imported=2, kept=1)
    assert [record for record in _public_records() if record[0] == "numpy"] == ours


def test_datasets_joined_with_cat_import_and_a_repeated_result_counts_as_kept(alice):
    _store_public_and_private(alice)
    dataset = _export()
    ProbeRecord.objects.all().delete()

    assert _import(dataset + dataset) == ImportSummary(imported=3, kept=3)


def _line(**changes: Any) -> str:
    record = {
        "name": "six",
        "version": "1.17.0",
        "wheel_tag": "py2.py3-none-any",
        "python": "3.11.7",
        "platform": "linux-x86_64",
        "probe_version": "5",
        "deep": True,
        "verdict": "safe",
        "created": "2026-12-01T12:00:00+00:00",
        "result": probe_result("six", "1.17.0").to_dict(),
    }
    record.update(changes)
    for name in [name for name, value in changes.items() if value is _ABSENT]:
        del record[name]
    return json.dumps(record)


_ABSENT = object()
_HEADER = json.dumps({"format": "forkaudit-dataset/1", "producer": {"forkaudit": "0.1.0", "probe_version": "5"}})
_THREAD = native_thread().to_dict()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"name": "six", ', "not JSON: Expecting property name enclosed in double quotes at column 17"),
        ("[1, 2]", "not a JSON object but an array"),
        (_line(verdict=_ABSENT), "missing field 'verdict'"),
        (_line(origin="upload:1:ab"), "unknown field 'origin' (not in forkaudit-dataset/1)"),
        (_line(verdict="fine"), "unknown verdict 'fine' (one of"),
        (_line(deep="yes"), "'deep' must be true or false, not a string"),
        (_line(version=""), "'version' must be a non-empty string, not a string"),
        (_line(python=311), "'python' must be a non-empty string, not a number"),
        (_line(name="x" * 201), "'name' must be at most 200 printable characters"),
        (_line(version="1.0\x00"), "'version' must be at most 100 printable characters"),
        (_line(created="2026-12-01T12:00:00"), "'created' must be an ISO 8601 time with its time zone"),
        (_line(created="yesterday"), "'created' must be an ISO 8601 time with its time zone"),
        (_line(result=[]), "'result' must be an object, not an array"),
        (_line(result={"distribution": "six"}), "'result' lacks 'version'"),
        (_line(result={**probe_result("six", "1.17.0").to_dict(), "seconds": "slow"}), "'result' is not a probe"),
        (_line(result={**probe_result("six", "1.17.0").to_dict(), "findings": [{"kind": "magic"}]}), "unknown kind"),
        (
            _line(result={**probe_result("six", "1.17.0").to_dict(), "findings": [{**_THREAD, "native": "no"}]}),
            "'result' has a thread-on-import finding whose 'native' is a string",
        ),
        (_line(result=probe_result("numpy", "1.17.0").to_dict()), "'result' is of distribution 'numpy'"),
        (_line(result=probe_result("six", "1.16.0").to_dict()), "'result' is of version '1.16.0'"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number_and_nothing_is_imported(bad: str, message: str) -> None:
    dataset = "\n".join([_HEADER, _line(), _line(python="3.12.1"), bad, _line(python="3.13.0")]) + "\n"

    with pytest.raises(DatasetError) as refused:
        _import(dataset)

    assert refused.value.line == 4
    assert message in refused.value.message
    assert not ProbeRecord.objects.exists()


def test_a_bad_line_after_a_stored_batch_still_imports_nothing() -> None:
    lines = [_line(python=f"3.11.{patch}") for patch in range(600)]  # more than one batch is stored before it
    dataset = "\n".join([_HEADER, *lines, "not json"]) + "\n"

    with pytest.raises(DatasetError, match="^line 602: not JSON"):
        _import(dataset)

    assert not ProbeRecord.objects.exists()
    assert not FindingRecord.objects.exists()


def test_bytes_that_are_not_utf8_are_refused_with_their_line() -> None:
    dataset = (_HEADER + "\n").encode() + b'{"name": "\xff"}\n'

    with pytest.raises(DatasetError, match="^line 2: not UTF-8 text$"):
        import_dataset(io.BytesIO(dataset))


@pytest.mark.parametrize(
    ("dataset", "line", "message"),
    [
        (_line() + "\n", 1, 'no header line before it: a dataset starts with a header line {"format"'),
        ("", 1, "empty: a dataset starts with a header line"),
        ('{"format": "forkaudit-dataset/2"}\n' + _line(), 1, "unknown format version 'forkaudit-dataset/2'"),
        (
            f'{_HEADER}\n{_line()}\n{{"format": "forkaudit-dataset/9"}}\n{_line(python="3.12.1")}\n',
            3,
            "unknown format version 'forkaudit-dataset/9': this forkaudit reads 'forkaudit-dataset/1' only",
        ),
    ],
)
def test_a_missing_header_or_an_unknown_format_version_is_refused(dataset: str, line: int, message: str) -> None:
    with pytest.raises(DatasetError) as refused:
        _import(dataset)

    assert (refused.value.line, message in refused.value.message) == (line, True)
    assert not ProbeRecord.objects.exists()


def test_a_line_longer_than_the_limit_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(dataset_module, "MAX_LINE_BYTES", 100)
    assert len(_HEADER) < 100 < len(_line())

    with pytest.raises(DatasetError, match="^line 2: longer than the limit of 100 bytes$"):
        _import(_HEADER + "\n" + _line())
