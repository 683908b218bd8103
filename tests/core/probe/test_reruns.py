"""The re-imports after a probe (the fork trial, the mitigations' trials) run side by side, and give what they gave
one after another."""

from __future__ import annotations

import threading

from auditor.core import probe
from auditor.core.findings import ForkTrial, ModuleOutcome, ModuleStatus, ThreadOnImport
from auditor.core.probe import ProbeOptions, _reruns
from auditor.core.probe.runner import ModuleSpec

MODULES = [ModuleSpec("blas", True)]
POOL = ThreadOnImport(thread="worker", native=True, alive_after_import=True, module="blas", library="OpenBLAS")
OK = {"blas": ModuleOutcome("blas", ModuleStatus.OK, 0.1, True)}
FORKED = {"fork": {"child": "ok", "seconds": 0.1}}


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
        return OK, survivor, False, FORKED if fork_trial else {}

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


def test_fallbacks_stop_at_the_first_that_works():
    # A Python thread of no known library: its fallback knobs are kept up to the first one that stops it.
    thread = ThreadOnImport(thread="flusher", native=False, alive_after_import=True, module="telemetry")
    tried = []

    def run(modules, env_vars, fork_trial):
        tried.append(env_vars)
        alive = [] if env_vars and ("DO_NOT_TRACK" in env_vars or "CI" in env_vars) else [thread]
        return {"telemetry": ModuleOutcome("telemetry", ModuleStatus.OK, 0.1, True)}, alive, False, {}

    options = ProbeOptions(fork_trial=False)
    findings, _, _ = _reruns([thread], "telemetry", [ModuleSpec("telemetry")], run, options=options, cores=None)

    assert findings[0].mitigation == {"env": {"DO_NOT_TRACK": "1"}, "verified": True, "alternatives": []}
    assert {"DO_NOT_TRACK": "1"} in tried
