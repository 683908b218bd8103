"""auditor/dataset.py: public results exported as JSON Lines and imported into another installation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from auditor.models import FindingRecord, ProbeRecord
from auditor.services import probe_records_add
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
