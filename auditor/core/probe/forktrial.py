"""The fork trial: after the import, fork once in the sandbox and see what the fork really did.

What the import leaves running is not the whole answer: OpenBLAS stops its own pool in a native at-fork handler
(invisible to `os.register_at_fork`), while numexpr's and jemalloc's threads carry on. So the imports of the
distribution's threads are run again, with the bootstrap forking once at the end (`fork=S`): the threads gone in
the parent when fork returns were stopped by their library (and the host, which still sees the others, checks that
claim), and the child runs a short smoke test within S seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from auditor.core.findings import Finding, ForkTrial, ModuleOutcome, ModuleStatus, ThreadOnImport
from auditor.core.probe.runner import ModuleSpec


def live_thread_modules(findings: Sequence[Finding]) -> list[ModuleSpec]:
    """What the fork trial and the mitigations' trials import: for each thread that lives on after the import, the
    module the probe was importing when it started (its `trigger`), else its own. A thread started by a function of
    one module that another module's body calls (pathos' pools, started while `pathos.mp_map` is imported, in
    `pathos.multiprocessing`) comes back only with the other module's import."""
    live = {
        f.trigger or f.module for f in findings if isinstance(f, ThreadOnImport) and f.alive_after_import and f.module
    }
    return [ModuleSpec(module, True) for module in sorted(live)]


def with_fork_trial(
    findings: list[Finding], outcomes: dict[str, ModuleOutcome], again: list[Finding], report: dict[str, Any]
) -> tuple[list[Finding], bool]:
    """`findings` with what a fork did to each live thread and the trial's own finding; and whether a library
    stopped a thread of its own at the fork (fork-aware, natively). The trial is the imports of
    `live_thread_modules(findings)` again, forking at the end: their `outcomes`, the findings they gave (`again`) and
    the bootstrap's report. Unchanged when nothing is alive, or when the trial's imports did not all succeed (it
    would say nothing of these threads)."""
    live = [f for f in findings if isinstance(f, ThreadOnImport) and f.alive_after_import and f.module]
    if not live:
        return findings, False
    trial = report.get("fork")
    if not isinstance(trial, dict) or any(o.status != ModuleStatus.OK for o in outcomes.values()):
        return findings, False
    seen = [g for g in again if isinstance(g, ThreadOnImport) and g.alive_after_import and g.at_fork]
    result: list[Finding] = []
    for finding in findings:
        if isinstance(finding, ThreadOnImport) and finding in live:
            twin = next((g for g in seen if finding.same_thread(g)), None)
            finding = dataclasses.replace(finding, at_fork=twin.at_fork) if twin else finding
        result.append(finding)
    stopped = sum(g.count for g in seen if g.at_fork == "stopped")
    survived = sum(g.count for g in seen if g.at_fork == "survived")
    result.append(
        ForkTrial(child=str(trial["child"]), stopped=stopped, survived=survived, seconds=float(trial["seconds"]))
    )
    return result, stopped > 0
