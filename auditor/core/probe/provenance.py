"""Which import produced a finding, and whether an application's import does the same.

A deep probe imports every public submodule, so it also imports modules no application imports on its own: a
`sitecustomize` inside a package (OpenTelemetry's, which only its `opentelemetry-instrument` launcher puts on the
path, starts 9 threads) or the module of a console script. Such a finding is true for whoever uses the launcher or
the script, and says nothing of an application that only imports the package: each finding says which it is.
"""

from __future__ import annotations

import configparser
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from auditor.core.environments import AuditEnvironment, InstalledDistribution
from auditor.core.findings import AtforkHandler, Finding, ProcessOnImport, SocketOnImport, ThreadOnImport

IMPORT = "import"  # the distribution's top-level import produced it: every application that imports it
SUBMODULE = "submodule"  # only an import of that submodule does
LAUNCHER_HOOK = "launcher-hook"  # a sitecustomize/usercustomize inside the package: only under a launcher
CONSOLE_SCRIPT = "console-script"  # the module of one of its console scripts
_HOOKS = ("sitecustomize", "usercustomize")
_TRIGGERED = (ThreadOnImport, ProcessOnImport, SocketOnImport, AtforkHandler)  # the findings that have a trigger
_MAX_ENTRY_POINTS = 1 << 20


def with_provenance(
    findings: Sequence[Finding], top_level: Sequence[str], script_modules: Sequence[str]
) -> list[Finding]:
    """`findings`, each with the provenance of the import that produced it (its `trigger`)."""
    return [
        dataclasses.replace(f, provenance=_provenance(f.trigger, top_level, script_modules))
        if isinstance(f, _TRIGGERED) and f.trigger
        else f
        for f in findings
    ]


def _provenance(trigger: str, top_level: Sequence[str], script_modules: Sequence[str]) -> str:
    if trigger.rpartition(".")[2] in _HOOKS:
        return LAUNCHER_HOOK
    if trigger in top_level:
        return IMPORT
    if trigger in script_modules:
        return CONSOLE_SCRIPT
    return SUBMODULE


def script_modules(dist: InstalledDistribution, env: AuditEnvironment) -> list[str]:
    """The modules of the distribution's console and GUI scripts, from its entry_points.txt (read as text)."""
    if not dist.dist_info:
        return []
    path = Path(env.site_packages, dist.dist_info, "entry_points.txt")
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_ENTRY_POINTS:
            return []
        parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
        # Entry point names keep their case: configparser's documented way, which typeshed sees as replacing a method.
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text(errors="replace"))
    except (OSError, configparser.Error):
        return []
    modules = []
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            modules += [value.split(":")[0].strip() for value in parser[section].values()]
    return sorted(set(modules))
