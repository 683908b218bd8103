"""The re-imports after a probe (the fork trial, the mitigations' trials) run side by side, and give what they gave
one after another."""

from __future__ import annotations

import dataclasses
import threading

from auditor.core import probe
from auditor.core.findings import ForkTrial, ModuleOutcome, ModuleStatus, ThreadOnImport
from auditor.core.probe import ProbeOptions, _covered, _reruns
from auditor.core.probe.runner import ModuleSpec

MODULES = [ModuleSpec("blas", True)]
POOL = ThreadOnImport(thread="worker", native=True, alive_after_import=True, module="blas", library="OpenBLAS")
OK = {"blas": ModuleOutcome("blas", ModuleStatus.OK, 0.1, True)}
DONE = {"event": "done"}  # a re-import that ended with its report
FORKED = {"event": "done", "fork": {"child": "ok", "seconds": 0.1}}


def test_the_trials_overlap_and_keep_their_order(monkeypatch):
    monkeypatch.setattr(probe, "RERUNS_AT_ONCE", 4)  # whatever this machine's cores
    # Each re-import waits until the fork trial and both OpenBLAS knobs' trials have started: one after another,
    # the first would wait for ever (here: until the barrier gives up, and the test fails).
    started = threading.Barrier(3, timeout=60)
    calls = []

    def run(modules, env_vars, fork_trial):
        calls.append((modules, env_vars, fork_trial))
        started.wait()
        survivor = [] if env_vars else [POOL]  # either knob stops the pool
        return OK, survivor, False, FORKED if fork_trial else DONE

    findings, stopped, seconds = _reruns([POOL], "numpy", MODULES, run, options=ProbeOptions(), cores=None)

    assert {str(env) for _, env, _ in calls} == {"None", "{'OPENBLAS_NUM_THREADS': '1'}", "{'OMP_NUM_THREADS': '1'}"}
    assert all(modules == MODULES for modules, _, _ in calls)
    thread, trial = findings
    # The catalogue's order, whichever trial ended first.
    assert thread.mitigation == {
        "env": {"OPENBLAS_NUM_THREADS": "1"},
        "verified": True,
        "alternatives": [{"OMP_NUM_THREADS": "1"}],
    }
    assert trial == ForkTrial(child="ok", stopped=0, survived=0, seconds=0.1)
    assert stopped is False
    assert seconds > 0


def test_the_fallbacks_run_side_by_side_and_the_first_that_works_in_their_order_is_the_mitigation(monkeypatch):
    # A native thread of no known library: its fallback knobs. Their trials start together (each of the first three
    # waits until all three have started: one after another, the first would wait for ever). The first breaks the
    # import (it proves nothing); the second and the third stop the thread, the third ending first: the second is the
    # mitigation, and the third's result is left unread, as when they ran one at a time.
    monkeypatch.setattr(probe, "RERUNS_AT_ONCE", 4)
    thread = ThreadOnImport(thread="pool", native=True, alive_after_import=True, module="fast")
    first = [{"OPENBLAS_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "1"}, {"MKL_NUM_THREADS": "1"}]
    started = threading.Barrier(3, timeout=60)
    third_ended = threading.Event()
    tried = []

    def run(modules, env_vars, fork_trial):
        tried.append(env_vars)
        if env_vars in first:
            started.wait()
        if env_vars == first[0]:
            return {"fast": ModuleOutcome("fast", ModuleStatus.IMPORT_ERROR, 0.1, True, "no")}, [], False, DONE
        if env_vars == first[1]:
            assert third_ended.wait(timeout=60)
        if env_vars == first[2]:
            third_ended.set()
        alive = [] if env_vars in first[1:] else [thread]
        return {"fast": ModuleOutcome("fast", ModuleStatus.OK, 0.1, True)}, alive, False, DONE

    options = ProbeOptions(fork_trial=False)
    findings, _, _ = _reruns([thread], "fast", [ModuleSpec("fast")], run, options=options, cores=None)

    assert findings[0].mitigation == {"env": {"OMP_NUM_THREADS": "1"}, "verified": True, "alternatives": []}
    assert all(knob in tried for knob in first)


def test_the_seconds_of_trials_side_by_side_are_the_time_some_trial_ran():
    assert _covered([]) == 0
    assert _covered([(0.0, 1.0), (0.5, 1.5), (3.0, 4.0)]) == 2.5
    assert _covered([(0.0, 3.0), (1.0, 2.0)]) == 3.0


def test_no_knob_is_verified_for_a_thread_that_the_run_without_knobs_does_not_show_again():
    # A thread that comes and goes by itself: the fork trial's imports, without any knob, do not show it again, so
    # its absence after a knob proves nothing. The pool, shown again, keeps its knobs.
    flaky = ThreadOnImport(thread="tokio-rt-worker", native=True, alive_after_import=True, module="blas")
    tried = []

    def run(modules, env_vars, fork_trial):
        tried.append(env_vars)
        if fork_trial:
            return OK, [POOL], False, FORKED
        return OK, ([] if env_vars else [POOL, flaky]), False, DONE

    findings, _, _ = _reruns([POOL, flaky], "numpy", MODULES, run, options=ProbeOptions(), cores=None)

    pool, thread = findings[:2]
    assert pool.mitigation["env"] == {"OPENBLAS_NUM_THREADS": "1"}
    assert thread.mitigation is None
    assert len(tried) == 3  # the fork trial and OpenBLAS's two knobs: no fallback is tried for the flaky thread


def test_a_thread_of_no_known_library_that_the_run_without_knobs_does_not_show_again_tries_no_knob():
    flaky = ThreadOnImport(thread="tokio-rt-worker", native=True, alive_after_import=True, module="agent")
    tried = []

    def run(modules, env_vars, fork_trial):
        tried.append(env_vars)
        return {"agent": ModuleOutcome("agent", ModuleStatus.OK, 0.1, True)}, [], False, FORKED

    findings, _, _ = _reruns([flaky], "agent", [ModuleSpec("agent")], run, options=ProbeOptions(), cores=None)

    assert findings[0].mitigation is None
    assert tried == [None]  # the fork trial alone: its imports did not show the thread, no fallback proves anything


def test_re_imports_that_end_before_their_report_say_nothing():
    # The fork trial's interpreter died after its imports (no report): it is no control, and the pool keeps its knob.
    # A knob's trial that died so verifies nothing (OpenBLAS_NUM_THREADS here), the next one does.
    def run(modules, env_vars, fork_trial):
        if fork_trial or env_vars == {"OPENBLAS_NUM_THREADS": "1"}:
            return OK, [], False, {}
        return OK, ([] if env_vars else [POOL]), False, DONE

    findings, _, _ = _reruns([POOL], "numpy", MODULES, run, options=ProbeOptions(), cores=None)

    assert findings[0].mitigation == {"env": {"OMP_NUM_THREADS": "1"}, "verified": True, "alternatives": []}


def test_the_thread_count_fallbacks_are_tried_only_for_native_threads_of_no_known_library():
    # tokio's worker, missing by chance from OPENBLAS_NUM_THREADS's trial, would have seemed stopped by it. That
    # variable is tried for the other thread, of no known library, and is not verified for tokio's.
    tokio = ThreadOnImport(thread="tokio-rt-worker", native=True, alive_after_import=True, module="agent")
    tokio = dataclasses.replace(tokio, library="tokio (Rust async runtime)")
    unknown = ThreadOnImport(thread="worker", native=True, alive_after_import=True, module="agent")
    tried = []

    def run(modules, env_vars, fork_trial):
        tried.append(env_vars)
        alive = [unknown] if env_vars == {"OPENBLAS_NUM_THREADS": "1"} else [tokio, unknown]
        return {"agent": ModuleOutcome("agent", ModuleStatus.OK, 0.1, True)}, alive, False, FORKED

    findings, _, _ = _reruns([tokio, unknown], "agent", [ModuleSpec("agent")], run, options=ProbeOptions(), cores=None)

    assert {"OPENBLAS_NUM_THREADS": "1"} in tried
    assert [f.mitigation for f in findings[:2]] == [None, None]


def test_a_native_thread_of_a_known_library_without_knobs_tries_only_the_opt_outs():
    tokio = ThreadOnImport(thread="tokio-rt-worker", native=True, alive_after_import=True, module="agent")
    tokio = dataclasses.replace(tokio, library="tokio (Rust async runtime)")
    tried = []

    def run(modules, env_vars, fork_trial):
        tried.append(env_vars)
        return {"agent": ModuleOutcome("agent", ModuleStatus.OK, 0.1, True)}, [tokio], False, FORKED

    findings, _, _ = _reruns([tokio], "agent", [ModuleSpec("agent")], run, options=ProbeOptions(), cores=None)

    assert findings[0].mitigation is None
    assert tried == [None, {"DO_NOT_TRACK": "1"}, {"CI": "true"}]
