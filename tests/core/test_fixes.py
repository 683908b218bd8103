"""The one line of variables that stops an audit's threads (auditor.core.fixes, AuditReport.fix)."""

from __future__ import annotations

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
    ProcessOnImport,
    ThreadOnImport,
    Verdict,
)
from auditor.core.fixes import smallest_set

OPENBLAS = {"OPENBLAS_NUM_THREADS": "1"}
OMP = {"OMP_NUM_THREADS": "1"}
NUMEXPR = {"NUMEXPR_NUM_THREADS": "1"}
JEMALLOC = {"JE_ARROW_MALLOC_CONF": "background_thread:false"}


def test_one_variable_that_stops_two_libraries_threads_beats_one_for_each():
    env, stopped = smallest_set([[OPENBLAS, OMP], [NUMEXPR, OMP]])

    assert env == OMP
    assert stopped == {0, 1}


def test_threads_without_a_shared_knob_each_get_theirs_and_a_thread_without_any_is_left():
    env, stopped = smallest_set([[OPENBLAS], [JEMALLOC], []])

    assert env == {**OPENBLAS, **JEMALLOC}
    assert stopped == {0, 1}


def test_a_variable_is_never_set_to_two_values():
    env, stopped = smallest_set([[{"MALLOC_CONF": "a"}], [{"MALLOC_CONF": "b"}]])

    assert env == {"MALLOC_CONF": "a"}
    assert stopped == {0}


def thread(*knobs: dict[str, str], verified: bool = True) -> ThreadOnImport:
    mitigation = {"env": knobs[0], "verified": verified, "alternatives": list(knobs[1:])} if knobs else None
    return ThreadOnImport(thread="python", native=True, alive_after_import=True, module="m", mitigation=mitigation)


def distribution(name: str, verdict: Verdict, *findings, suppressed: str | None = None) -> DistributionReport:
    return DistributionReport(
        name=name,
        version="1.0",
        direct=True,
        verdict=verdict,
        fork_aware=False,
        paths=((name,),),
        modules=(),
        findings=findings,
        suppressed=suppressed,
    )


def report(*distributions: DistributionReport) -> AuditReport:
    return AuditReport(Verdict.UNSAFE, Environment("3.11", "linux-x86_64", "bwrap"), distributions)


def test_the_reports_fix_names_what_it_stops_and_what_stays_unsafe():
    audit = report(
        distribution("numpy", Verdict.UNSAFE, thread(OPENBLAS, OMP)),
        distribution("numexpr", Verdict.UNSAFE, thread(NUMEXPR, OMP), thread(NUMEXPR, OMP)),
        distribution("sentry-like", Verdict.UNSAFE, thread(OPENBLAS, verified=False)),  # a guess is no fix
        distribution(
            "spawner", Verdict.UNSAFE, thread(OMP), ProcessOnImport(command="x", alive_after_import=True, module="s")
        ),
        distribution("accepted", Verdict.UNSAFE, thread(JEMALLOC), suppressed="we never fork"),
        distribution("requests", Verdict.SAFE),
    )

    fix = audit.fix()

    assert fix.env == OMP
    assert fix.fixed == ("numpy", "numexpr")
    assert fix.unfixed == ("sentry-like", "spawner")  # a running process is not stopped by a variable
    assert audit.to_dict()["fix"] == {"env": OMP, "fixed": ["numpy", "numexpr"], "unfixed": ["sentry-like", "spawner"]}


def test_a_safe_audit_has_nothing_to_fix():
    assert report(distribution("requests", Verdict.SAFE)).to_dict()["fix"] == {"env": {}, "fixed": [], "unfixed": []}
