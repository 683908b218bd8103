"""A report compared with a baseline (auditor.core.report.baseline): problems by distribution and thread, not
version; each renderer leads with what is new."""

from __future__ import annotations

import dataclasses
import json

import pytest

from auditor.core.findings import ThreadOnImport, Verdict
from auditor.core.report import render
from auditor.core.report.baseline import BaselineError, Problem, baseline_from_json, compare, known_set_aside
from auditor.core.report.sarif import sarif_log
from tests.core.test_report import (
    caution_telemetry,
    error_broken,
    hostile_distribution,
    make_report,
    safe_requests,
    unsafe_numpy,
)


def test_a_new_version_with_the_same_thread_is_known_and_a_new_distribution_is_new():
    before = make_report(unsafe_numpy(), safe_requests())
    after = make_report(dataclasses.replace(unsafe_numpy(), version="2.5.0"), hostile_distribution(), safe_requests())

    comparison = compare(after, before)

    assert comparison.known == (Problem("numpy", "thread-on-import", "native", "unsafe"),)
    assert [p.distribution for p in comparison.new] == ["evil-pkg"]
    assert comparison.fixed == ()
    assert known_set_aside(after, comparison).verdict == Verdict.UNSAFE  # evil-pkg
    assert known_set_aside(make_report(unsafe_numpy()), compare(make_report(unsafe_numpy()), before)).verdict == "safe"


def test_python_threads_are_the_same_thread_whatever_number_they_got():
    def named(name: str):
        thread = ThreadOnImport(thread=name, native=False, alive_after_import=True, module="w")
        return make_report(dataclasses.replace(hostile_distribution(), findings=(thread,)))

    assert compare(named("Thread-7 (flush)"), named("Thread-3 (flush)")).new == ()
    assert len(compare(named("exporter"), named("flusher")).new) == 1


def test_a_thread_that_now_stays_alive_is_new_and_a_gone_one_is_fixed():
    transient = caution_telemetry()
    alive_thread = dataclasses.replace(transient.findings[1], alive_after_import=True)
    alive = dataclasses.replace(transient, verdict=Verdict.UNSAFE, findings=(alive_thread,))

    comparison = compare(make_report(alive), make_report(transient))

    assert [(p.what, p.verdict) for p in comparison.new] == [("flusher", "unsafe")]
    assert [(p.what, p.verdict) for p in comparison.fixed] == [("flusher", "caution")]


def test_an_error_is_a_problem_too_and_suppressed_distributions_are_left_out():
    assert compare(make_report(error_broken()), make_report()).known[0].distribution == "broken-pkg"
    suppressed = dataclasses.replace(hostile_distribution(), suppressed="accepted")
    assert compare(make_report(suppressed), make_report(safe_requests())).new == ()


def test_a_saved_api_audit_is_a_baseline_and_anything_else_is_named():
    report = make_report(unsafe_numpy())
    assert baseline_from_json({"id": "x", "report": report.to_dict()}, "b") == report
    for data in ([], {"schema": "forkaudit-report/1"}, {"schema": "forkaudit-report/9"}):
        with pytest.raises(BaselineError, match="^b: not a forkaudit JSON report"):
            baseline_from_json(data, "b")


def test_every_format_says_what_is_new():
    before = make_report(hostile_distribution())
    after = make_report(unsafe_numpy(), hostile_distribution())
    comparison = compare(after, before)

    table = render(after, "table", width=200, baseline=comparison)
    assert table.splitlines()[0].startswith("New: numpy 2.4.6 (pulled in by pandas) leaves a native thread")
    assert table.splitlines()[1] == "Against the baseline: 1 new problem (numpy); 1 known (evil-pkg), not counted"
    rows = [line.split()[0] for line in table.splitlines()[5:7]]
    assert rows == ["numpy", "evil-pkg"]  # the new first
    assert json.loads(render(after, "json", baseline=comparison))["baseline"]["known"][0]["distribution"] == "evil-pkg"
    run = sarif_log(after, baseline=comparison)["runs"][0]
    assert {r["properties"]["distribution"]: r["baselineState"] for r in run["results"]} == {
        "evil-pkg": "unchanged",
        "numpy": "new",
    }
    assert run["properties"]["headline"].startswith("New: numpy 2.4.6")
    assert "baselineState" not in sarif_log(after)["runs"][0]["results"][0]
    markdown = render(after, "markdown", baseline=comparison)
    assert markdown.startswith("## forkaudit: 🛑 New: numpy 2.4.6")
    new_part = markdown.split("<summary>1 distribution known from the baseline")[0]
    assert "| evil-pkg |" not in new_part and "import evil-pkg after the fork" not in new_part


def test_nothing_new_is_said_so():
    report = make_report(unsafe_numpy())
    assert render(report, "table", width=100, baseline=compare(report, report)).startswith(
        "Nothing new: the problem left is in the baseline\n"
    )
    safe = make_report(safe_requests())
    assert render(safe, "table", width=100, baseline=compare(safe, report)).splitlines()[:2] == [
        "Nothing new: Fork-safe: nothing is left running or open after import (1 distribution)",
        "Against the baseline: 0 new problems; 1 fixed (numpy)",
    ]
