"""Verified mitigations: the environment variables that stop a thread, each proven by importing again with it.

The candidates come from catalogue.toml: the knobs of the library a native thread runs in, then those of the
distribution, then, only for a thread left without a verified knob, the fallback lists (the thread-count variables
only for a native thread of no known library). Every knob that removes a thread (and leaves the import working) is
kept, if the same imports without any knob show the thread again: the report's smallest set of variables for a whole
audit (auditor.core.fixes) chooses among them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from auditor.core.findings import Finding, ModuleOutcome, ModuleStatus, ThreadOnImport
from auditor.core.probe.libraries import catalogue, known_libraries

Knob = dict[str, str]
MAX_TRIALS = 8  # re-imports per distribution, whatever the catalogue offers

# rerun(env) -> the imports that started the live threads, again, with `env` set (auditor.core.probe's Ran:
# outcomes, findings, fork-aware, report), on its way.
Rerun = Callable[[Knob], Future[tuple[Any, ...]]]


def candidates(distribution: str, threads: Sequence[ThreadOnImport]) -> tuple[list[Knob], list[tuple[Knob, bool]]]:
    """The knobs worth trying for `threads` of `distribution`: the specific ones (its threads' libraries', its
    own), then the fallbacks, each list without repeats; a fallback with whether it is for native threads of no known
    library only (the thread-count variables of the native fallback list) or for any thread (telemetry opt-outs)."""
    specific: list[Knob] = []
    for thread in threads:
        library = next((lib for lib in known_libraries() if lib.name == thread.library), None)
        specific += library.knobs if library else ()
    specific += next((p.get("knobs", []) for p in catalogue().get("package", ()) if p["name"] == distribution), [])
    fallback = catalogue().get("fallback", {})
    native = [k for k in _unique(fallback.get("native", [])) if k not in specific]
    extra = [(knob, True) for knob in native if any(_unknown_native(t) for t in threads)]
    extra += [(knob, False) for knob in _unique(fallback.get("python", [])) if knob not in specific + native]
    return _unique(specific), extra


def _unknown_native(thread: ThreadOnImport) -> bool:
    """A native thread of no known library: the only kind a thread-count variable of the fallback list may stop
    (for tokio's or the JVM's, OPENBLAS_NUM_THREADS can only seem to, when the thread is missing by chance)."""
    return thread.native and thread.library is None


def with_mitigations(
    findings: list[Finding], distribution: str, rerun: Rerun, control: Future[tuple[Any, ...]] | None = None
) -> list[Finding]:
    """`findings` with each live thread's verified knobs: the first as its mitigation, the others as alternatives.

    `control`, the same imports again without any knob (the fork trial's, at the same time as the trials): a thread
    it does not show again comes and goes by itself, so its absence after a knob proves nothing, and no knob is
    verified for it (ddtrace's tokio worker was "stopped" by OPENBLAS_NUM_THREADS)."""
    targets = [f for f in findings if isinstance(f, ThreadOnImport) and f.alive_after_import and f.module]
    if not targets:
        return findings
    specific, fallback = candidates(distribution, targets)
    fallback = fallback[: max(0, MAX_TRIALS - len(specific))]
    specific = specific[:MAX_TRIALS]
    verified: dict[int, list[Knob]] = {index: [] for index in range(len(targets))}

    def verify(knob: Knob, trial: Future[tuple[Any, ...]], among: Sequence[int] | None = None) -> None:
        outcomes, again, _, report = trial.result()
        if not _said(outcomes, report):
            return  # a knob that breaks the import, or an interpreter that ended before its report, proves nothing
        for index, knobs in verified.items():
            if (among is None or index in among) and not _shown(targets[index], again):
                knobs.append(knob)

    def fit(unknown_native_only: bool) -> list[int]:
        return [i for i in verified if not unknown_native_only or _unknown_native(targets[i])]

    # The specific knobs' trials start together. Then, for the threads the control shows again that are left without
    # a knob, the fallbacks' trials, together too; their results are read in the catalogue's order, each only while a
    # thread it fits has no knob yet, as if they had run one at a time, so the knobs found do not depend on which
    # trial ended first. A trial no longer needed is cancelled if it has not started; one already running ends, its
    # result unread: wasted only when an early fallback works, which is rare (bench/README.md, finding 56).
    for knob, trial in [(knob, rerun(knob)) for knob in specific]:
        verify(knob, trial)
    for index in _unreproduced(targets, control):
        del verified[index]
    needed = [(knob, only) for knob, only in fallback if any(not verified[i] for i in fit(only))]
    for knob, unknown_native_only, trial in [(knob, only, rerun(knob)) for knob, only in needed]:
        among = fit(unknown_native_only)
        if any(not verified[i] for i in among):
            verify(knob, trial, among=among)
        else:
            trial.cancel()
    mitigated = {
        id(target): {"env": verified[index][0], "verified": True, "alternatives": verified[index][1:]}
        for index, target in enumerate(targets)
        if verified.get(index)
    }
    return [
        dataclasses.replace(f, mitigation=mitigated[id(f)])
        if isinstance(f, ThreadOnImport) and id(f) in mitigated
        else f
        for f in findings
    ]


def _unreproduced(targets: Sequence[ThreadOnImport], control: Future[tuple[Any, ...]] | None) -> list[int]:
    """The indexes of the `targets` that the control run does not show again (none without a control, or when the
    control itself says nothing)."""
    if control is None:
        return []
    outcomes, again, _, report = control.result()
    if not _said(outcomes, report):
        return []
    return [index for index, target in enumerate(targets) if not _shown(target, again)]


def _said(outcomes: dict[str, ModuleOutcome], report: dict[str, Any]) -> bool:
    """Whether a re-import says anything of the threads: its imports all succeeded and it ended with its report."""
    return bool(outcomes and report) and all(o.status == ModuleStatus.OK for o in outcomes.values())


def _shown(thread: ThreadOnImport, findings: Sequence[Finding]) -> bool:
    """Whether a re-import's `findings` show `thread` alive again."""
    return any(isinstance(f, ThreadOnImport) and f.alive_after_import and thread.same_thread(f) for f in findings)


def _unique(knobs: Sequence[Knob]) -> list[Knob]:
    seen: list[Knob] = []
    for knob in knobs:
        if knob not in seen:
            seen.append(dict(knob))
    return seen
