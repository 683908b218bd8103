"""The probe: what a distribution does when it is imported, measured in a fresh sandboxed interpreter."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.core.background import ThreadPool
from auditor.core.environments import AuditEnvironment, InstalledDistribution, import_names
from auditor.core.findings import Finding, ImportFailure, ModuleOutcome, ModuleStatus, ProbeResult
from auditor.core.probe.cgroups import limits_description
from auditor.core.probe.evidence import Attributor, findings_from_report, foreign_threads
from auditor.core.probe.forktrial import live_thread_modules, with_fork_trial
from auditor.core.probe.mitigations import with_mitigations
from auditor.core.probe.provenance import script_modules, with_provenance
from auditor.core.probe.runner import Cores, ModuleSpec, probe_modules
from auditor.core.probe.sandbox import Limits, Sandbox

PROBE_VERSION = "10"  # bump when the probe would find something different for the same distribution
# One interpreter's imports: their outcomes, the findings, whether the distribution is fork-aware, the report.
Ran = tuple[dict[str, ModuleOutcome], list[Finding], bool, dict[str, Any]]
# Interpreters that re-import one distribution at once: a few, each may hold a large library in memory.
RERUNS_AT_ONCE = 4


@dataclass(frozen=True)
class ProbeOptions:
    timeout: float = 60.0  # wall-clock limit of one interpreter
    shallow: bool = False  # top-level modules only
    settle: float = 0.2  # seconds to wait after the imports before deciding what is still alive
    extra_modules: Sequence[str] = ()  # private modules the static scan saw starting threads at module level
    importers: Sequence[str] = ()  # top-level modules of the distributions that require it, to import it through
    verify_mitigations: bool = True
    fork_trial: bool = True  # fork once after the imports of its live threads (auditor.core.probe.forktrial)
    limits: Limits = field(default_factory=Limits)


def probe_distribution(
    dist: InstalledDistribution,
    *,
    env: AuditEnvironment,
    attributor: Attributor,
    sandbox: Sandbox,
    options: ProbeOptions = ProbeOptions(),
    cores: Cores | None = None,
) -> ProbeResult:
    """Import `dist`'s modules in a fresh sandboxed interpreter of `env` and report what its own code started (each
    interpreter holding one of `cores`, if given, while it works)."""
    started = time.monotonic()
    waited = cores.waited() if cores is not None else 0.0
    top_level, submodules = import_names(dist)
    if not top_level:
        return ProbeResult(dist.name, dist.version, sandbox.name, (), (), seconds=time.monotonic() - started)
    specs = [ModuleSpec(m, True) for m in top_level]
    if not options.shallow:
        specs += [ModuleSpec(m, False) for m in submodules]
    known = {s.name for s in specs}
    specs += [ModuleSpec(m, False) for m in options.extra_modules if m not in known]

    django_apps: list[str] = []  # set when the distribution is a plug-in that needs Django configured

    def run(modules: list[ModuleSpec], env_vars: dict[str, str] | None = None, fork_trial: float | None = None) -> Ran:
        outcomes, report = probe_modules(
            modules,
            python=env.python,
            sandbox=sandbox,
            binds=env.sandbox_binds,
            limits=dataclasses.replace(options.limits, wall_seconds=options.timeout),
            env=env_vars,
            budget=None if options.shallow else options.timeout * 0.6,
            settle=options.settle,
            cores=cores,
            own_pth=[f for f in dist.files if f.endswith(".pth") and "/" not in f],
            django_apps=django_apps,
            fork_trial=fork_trial,
        )
        findings, fork_aware = findings_from_report(report or {}, attributor=attributor, distribution=dist.name)
        return outcomes, findings, fork_aware, report or {}

    outcomes, findings, fork_aware, report = run(specs)
    imported_with = ""
    if _needs_django(outcomes) and (env.site_packages / "django").is_dir():
        # A framework plug-in: imported as applications import it, in a configured project (its result says so).
        django_apps.extend(top_level)
        outcomes, findings, fork_aware, report = run(specs)
        imported_with = DJANGO_CONFIGURED.format(apps=", ".join(top_level))
    elif _none_imported(outcomes, top_level) and options.importers:
        # A part that refuses to be imported on its own (psycopg_c without psycopg): imported through what requires
        # it, as applications do. The importer's own findings are blamed on the importer, as always.
        through = [ModuleSpec(m, True) for m in options.importers if m not in known]
        again, findings, fork_aware, report = run(through + specs)
        if not _none_imported(again, top_level):
            outcomes = again
            imported_with = IMPORTED_THROUGH.format(importers=", ".join(options.importers))
    modules = tuple(
        outcomes.get(s.name) or ModuleOutcome(s.name, ModuleStatus.SKIPPED, 0.0, s.top_level) for s in specs
    )
    findings += _import_failures(modules)
    # An import through what requires it is the application's import of this distribution too.
    findings = with_provenance(findings, [*top_level, *options.importers], script_modules(dist, env))
    seconds = time.monotonic() - started - ((cores.waited() - waited) if cores is not None else 0.0)
    rerun_modules = live_thread_modules(findings)
    if rerun_modules and (options.verify_mitigations or options.fork_trial):
        findings, stopped_at_fork, rerun_seconds = _reruns(
            findings, dist.name, rerun_modules, run, options=options, cores=cores
        )
        fork_aware = fork_aware or stopped_at_fork
        seconds += rerun_seconds
    return ProbeResult(
        distribution=dist.name,
        version=dist.version,
        sandbox=sandbox.name,
        modules=modules,
        findings=tuple(findings),
        fork_aware=fork_aware,
        seconds=seconds,
        limits=limits_description(),
        imported_with=imported_with,
        foreign_threads=tuple(foreign_threads(report, attributor=attributor, distribution=dist.name)),
    )


def _reruns(
    findings: list[Finding],
    distribution: str,
    modules: list[ModuleSpec],
    run: Callable[[list[ModuleSpec], dict[str, str] | None, float | None], Ran],
    *,
    options: ProbeOptions,
    cores: Cores | None,
) -> tuple[list[Finding], bool, float]:
    """The re-imports of `modules`, which started the threads that live on, side by side: the fork trial (the
    mitigations' control too: the same imports, without any knob) and the trials of the mitigations (each in its own
    interpreter, `RERUNS_AT_ONCE` at most, and each holding one of `cores` if given, so that an idle core or a trial's
    settle time serves another). The findings they give, whether a library stopped a thread of its own at the fork,
    and their seconds: the time some trial was running (waits for a core left out)."""
    running: list[tuple[float, float]] = []  # each trial's span, from the moment it held its core

    def timed(env_vars: dict[str, str] | None, fork_trial: float | None = None) -> Ran:
        begun = time.monotonic()
        waited = cores.waited() if cores is not None else 0.0
        try:
            return run(modules, env_vars, fork_trial)
        finally:
            running.append((begun + ((cores.waited() - waited) if cores is not None else 0.0), time.monotonic()))

    pool = ThreadPool(max_workers=RERUNS_AT_ONCE, thread_name_prefix="forkaudit-rerun")
    try:
        limit = max(2.0, options.timeout / 4)
        trial = pool.submit(timed, None, limit) if options.fork_trial else None
        if options.verify_mitigations:
            findings = with_mitigations(findings, distribution, lambda knob: pool.submit(timed, knob), control=trial)
        stopped_at_fork = False
        if trial is not None:
            outcomes, again, _, report = trial.result()
            findings, stopped_at_fork = with_fork_trial(findings, outcomes, again, report)
    finally:
        # An error, or a stop (ProbesStopped): the trials not started yet never start, those running end first.
        pool.shutdown(wait=True, cancel_futures=True)
    return findings, stopped_at_fork, _covered(running)


def _covered(spans: list[tuple[float, float]]) -> float:
    """Seconds that at least one of `spans` covers."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


DJANGO_CONFIGURED = (
    "Django configured as an application would: settings.configure() with {apps} in INSTALLED_APPS (beside Django's "
    "contrib apps), then django.setup()"
)
# What Django says when a module needs settings, or the app registry, that nobody configured.
_DJANGO_UNCONFIGURED = ("settings are not configured", "AppRegistryNotReady", "Apps aren't loaded yet")


IMPORTED_THROUGH = "what requires it, imported first: {importers}"


def _none_imported(outcomes: dict[str, ModuleOutcome], top_level: Sequence[str]) -> bool:
    return not any((o := outcomes.get(name)) is not None and o.status == ModuleStatus.OK for name in top_level)


def _needs_django(outcomes: dict[str, ModuleOutcome]) -> bool:
    """Whether a module failed for want of a configured Django project: a plug-in's top-level module, or only its
    submodules (django-debug-toolbar's panels, drf-spectacular's views), which an application imports configured."""
    return any(
        outcome.status == ModuleStatus.IMPORT_ERROR
        and any(marker in (outcome.error or "") for marker in _DJANGO_UNCONFIGURED)
        for outcome in outcomes.values()
    )


def _import_failures(modules: Sequence[ModuleOutcome]) -> list[Finding]:
    # A submodule that raises is normal (optional extras) and stays on its module; one that kills the probe is not.
    return [
        ImportFailure(module=m.name, reason=str(m.status), message=m.error or str(m.status), top_level=m.top_level)
        for m in modules
        if m.status.killed_probe or (m.top_level and m.status == ModuleStatus.IMPORT_ERROR)
    ]
