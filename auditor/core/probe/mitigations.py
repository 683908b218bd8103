"""Verified mitigations: the environment variables that stop a thread, each proven by importing again with it.

The candidates come from catalogue.toml: the knobs of the library a native thread runs in, then those of the
distribution, then, only while a thread has no verified knob yet, the fallback lists. Every knob that removes a
thread (and leaves the import working) is kept: the report's smallest set of variables for a whole audit
(auditor.core.fixes) chooses among them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from auditor.core.findings import Finding, ModuleOutcome, ModuleStatus, ThreadOnImport, thread_kind
from auditor.core.probe.libraries import catalogue, known_libraries
from auditor.core.probe.runner import ModuleSpec

Knob = dict[str, str]
MAX_TRIALS = 8  # re-imports per distribution, whatever the catalogue offers

# run(modules, env) -> (outcomes, findings): the probe's imports again, with `env` set.
Rerun = Callable[[list[ModuleSpec], Knob], tuple[dict[str, ModuleOutcome], list[Finding]]]


def candidates(distribution: str, threads: Sequence[ThreadOnImport]) -> tuple[list[Knob], list[Knob]]:
    """The knobs worth trying for `threads` of `distribution`: the specific ones (its threads' libraries', its
    own), then the fallbacks, each list without repeats."""
    specific: list[Knob] = []
    for thread in threads:
        library = next((lib for lib in known_libraries() if lib.name == thread.library), None)
        specific += library.knobs if library else ()
    specific += next((p.get("knobs", []) for p in catalogue().get("package", ()) if p["name"] == distribution), [])
    fallback = catalogue().get("fallback", {})
    extra: list[Knob] = list(fallback.get("python", []))
    if any(t.native for t in threads):
        extra = list(fallback.get("native", [])) + extra
    return _unique(specific), [k for k in _unique(extra) if k not in specific]


def with_mitigations(findings: list[Finding], distribution: str, rerun: Rerun) -> list[Finding]:
    """`findings` with each live thread's verified knobs: the first as its mitigation, the others as alternatives."""
    targets = [f for f in findings if isinstance(f, ThreadOnImport) and f.alive_after_import and f.module]
    if not targets:
        return findings
    modules = [ModuleSpec(m, True) for m in sorted({t.module for t in targets if t.module})]
    specific, fallback = candidates(distribution, targets)
    verified: dict[int, list[Knob]] = {index: [] for index in range(len(targets))}
    trials = [(knob, False) for knob in specific] + [(knob, True) for knob in fallback]
    for knob, only_if_needed in trials[:MAX_TRIALS]:
        if only_if_needed and all(verified.values()):
            break
        outcomes, again = rerun(modules, knob)
        if any(o.status != ModuleStatus.OK for o in outcomes.values()):
            continue  # a knob that breaks the import proves nothing
        for index, target in enumerate(targets):
            if not any(_is_same_thread(target, other) for other in again):
                verified[index].append(knob)
    mitigated = {
        id(target): {"env": verified[index][0], "verified": True, "alternatives": verified[index][1:]}
        for index, target in enumerate(targets)
        if verified[index]
    }
    return [
        dataclasses.replace(f, mitigation=mitigated[id(f)])
        if isinstance(f, ThreadOnImport) and id(f) in mitigated
        else f
        for f in findings
    ]


def _is_same_thread(a: ThreadOnImport, b: Finding) -> bool:
    # By name too: of two native threads of one module, a knob may stop one and not the other.
    return (
        isinstance(b, ThreadOnImport)
        and b.alive_after_import
        and (b.native, b.module, thread_kind(b.thread)) == (a.native, a.module, thread_kind(a.thread))
    )


def _unique(knobs: Sequence[Knob]) -> list[Knob]:
    seen: list[Knob] = []
    for knob in knobs:
        if knob not in seen:
            seen.append(dict(knob))
    return seen
