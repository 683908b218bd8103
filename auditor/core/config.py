"""The project's own forkaudit settings: `[tool.forkaudit]` in pyproject.toml, or a `.forkaudit.toml`.

    [tool.forkaudit]
    fail-on = "caution"          # defaults for the command-line options of the same names
    shallow = false
    timeout = 60

    [[tool.forkaudit.suppress]]
    package = "numpy"
    reason = "production sets OPENBLAS_NUM_THREADS=1 (verified mitigation)"
    # version = "<3"             # optional: only these versions

A suppressed distribution stays in the report with its verdict and evidence, marked with the reason, and no longer
counts towards the audit's verdict or the exit code. A suppression without a reason is refused.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.core.findings import AuditReport, Verdict

OPTIONS: dict[str, type | tuple[type, ...]] = {
    "fail-on": str,
    "strict": bool,
    "shallow": bool,
    "timeout": (int, float),
    "jobs": int,
    "format": str,
}


class ConfigError(ValueError):
    """The configuration file is not usable; the message names the file and the problem."""


@dataclass(frozen=True)
class Suppression:
    package: str
    reason: str
    versions: SpecifierSet | None = None

    def matches(self, name: str, version: str) -> bool:
        if canonicalize_name(name) != self.package:
            return False
        if self.versions is None:
            return True
        try:
            return Version(version) in self.versions
        except InvalidVersion:
            return False


@dataclass(frozen=True)
class ProjectConfig:
    source: Path | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()


def load_config(directory: Path) -> ProjectConfig:
    """`.forkaudit.toml`, else `[tool.forkaudit]` of `pyproject.toml`, in `directory`; empty when neither exists."""
    for name, table_path in ((".forkaudit.toml", ()), ("pyproject.toml", ("tool", "forkaudit"))):
        path = directory / name
        if not path.is_file():
            continue
        try:
            data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it: {exc}") from exc
        for key in table_path:
            data = data.get(key, {}) if isinstance(data, dict) else {}
        if name == "pyproject.toml" and not data:
            continue
        return _parse(path, data)
    return ProjectConfig()


def _parse(path: Path, data: Any) -> ProjectConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the forkaudit settings must be a table")
    options: dict[str, Any] = {}
    for key, value in data.items():
        if key == "suppress":
            continue
        expected = OPTIONS.get(key)
        if expected is None:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(OPTIONS))}, suppress)")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: {key} has the wrong type: {value!r}")
        options[key] = value
    raw = data.get("suppress", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: suppress must be an array of tables ([[tool.forkaudit.suppress]])")
    return ProjectConfig(path, options, tuple(_suppression(path, index, entry) for index, entry in enumerate(raw)))


def _suppression(path: Path, index: int, entry: Any) -> Suppression:
    where = f"{path}: suppression #{index + 1}"
    if not isinstance(entry, dict) or not isinstance(entry.get("package"), str) or not entry["package"].strip():
        raise ConfigError(f"{where}: needs a package name")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where} ({entry['package']}): needs a reason, so that the next reader knows why")
    unknown = set(entry) - {"package", "reason", "version"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    versions = None
    if "version" in entry:
        try:
            versions = SpecifierSet(str(entry["version"]))
        except InvalidSpecifier as exc:
            raise ConfigError(f"{where}: not a version specifier: {entry['version']!r}") from exc
    return Suppression(canonicalize_name(entry["package"]), reason.strip(), versions)


def apply_suppressions(report: AuditReport, suppressions: Sequence[Suppression]) -> AuditReport:
    """Mark suppressed distributions with their reason; the audit's verdict is the worst of the others."""
    if not suppressions:
        return report
    distributions = []
    for dist in report.distributions:
        match = next((s for s in suppressions if s.matches(dist.name, dist.version)), None)
        distributions.append(dataclasses.replace(dist, suppressed=match.reason) if match else dist)
    verdict = Verdict.worst([d.verdict for d in distributions if d.suppressed is None])
    return dataclasses.replace(report, verdict=verdict, distributions=tuple(distributions))
