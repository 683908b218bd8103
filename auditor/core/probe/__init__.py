"""The probe: what a distribution does when it is imported, measured in a fresh sandboxed interpreter."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.core.environments import AuditEnvironment, InstalledDistribution, import_names
from auditor.core.findings import Finding, ImportFailure, ModuleOutcome, ModuleStatus, ProbeResult
from auditor.core.probe.cgroups import limits_description
from auditor.core.probe.evidence import Attributor, findings_from_report, foreign_threads
from auditor.core.probe.forktrial import with_fork_trial
from auditor.core.probe.mitigations import with_mitigations
from auditor.core.probe.provenance import script_modules, with_provenance
from auditor.core.probe.runner import Cores, ModuleSpec, probe_modules
from auditor.core.probe.sandbox import Limits, Sandbox

PROBE_VERSION = "7"  # bump when the probe would find something different for the same distribution


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

    def run(modules: list[ModuleSpec], env_vars: dict[str, str] | None = None, fork_trial: float | None = None):
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
    if options.verify_mitigations:
        findings = with_mitigations(findings, dist.name, lambda modules, knob: run(modules, knob)[:2])
    if options.fork_trial:
        limit = max(2.0, options.timeout / 4)
        findings, stopped_at_fork = with_fork_trial(findings, lambda modules: _trial(run(modules, None, limit)))
        fork_aware = fork_aware or stopped_at_fork
    return ProbeResult(
        distribution=dist.name,
        version=dist.version,
        sandbox=sandbox.name,
        modules=modules,
        findings=tuple(findings),
        fork_aware=fork_aware,
        seconds=time.monotonic() - started - ((cores.waited() - waited) if cores is not None else 0.0),
        limits=limits_description(),
        imported_with=imported_with,
        foreign_threads=tuple(foreign_threads(report, attributor=attributor, distribution=dist.name)),
    )


def _trial(ran):
    outcomes, findings, _, report = ran
    return outcomes, findings, report


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
