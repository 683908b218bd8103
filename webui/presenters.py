"""What the templates show, prepared from stored reports and probe records.

The sentences come from `auditor.core.report.describe`, as in every other report format. A sentence is a list of
parts, each `{"kind": "text" | "name" | "code", "text": ...}`: the templates print every part through Django's
auto-escaping (names and code in their own elements), so nothing a package controls is ever marked safe.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, reverse

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Finding,
    ModuleOutcome,
    ModuleStatus,
    ProbeResult,
    Verdict,
)
from auditor.core.report.describe import (
    CODE_LIMIT,
    MESSAGE_LIMIT,
    NAME_LIMIT,
    Part,
    by_severity,
    describe_finding,
    evidence,
    finding_level,
    fix_steps,
    headline,
    verified_mitigations,
)
from auditor.core.report.sanitize import clean_text
from auditor.models import Audit, ProbeRecord

logger = logging.getLogger(__name__)

Sentence = list[dict[str, str]]
EVIDENCE_IN_TABLE = 3  # findings shown in a distribution's table row; all of them are in its details
PATHS_IN_TABLE = 3
STACK_LINES = 40
MODULES_SHOWN = 200  # per distribution; Django alone has 870 public modules, all of them in the JSON report

HEADLINES = {
    Verdict.UNSAFE: "Not fork-safe",
    Verdict.ERROR: "Incomplete",
    Verdict.CAUTION: "Fork-safe, with caution",
    Verdict.SAFE: "Fork-safe",
}


def sentence(finding: Finding) -> Sentence:
    return phrase_sentence(describe_finding(finding))


def phrase_sentence(phrase: tuple[Part, ...] | list[Part]) -> Sentence:
    return [{"kind": part.kind.value, "text": part.text} for part in phrase]


# A finding's level named after the verdict it leads to, so that the page speaks one vocabulary.
LEVEL_LABELS = {"error": "unsafe", "warning": "caution", "note": "note"}


@dataclass(frozen=True)
class FindingView:
    level: str  # error, warning, note (as describe.finding_level names them)
    sentence: Sentence
    stack: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LEVEL_LABELS.get(self.level, self.level)


@dataclass(frozen=True)
class ModuleView:
    name: str
    status: str
    ok: bool
    top_level: bool
    import_time: str
    error: str


def finding_views(findings: tuple[Finding, ...] | list[Finding]) -> list[FindingView]:
    ordered = sorted(findings, key=lambda f: finding_level(f).rank)
    return [
        FindingView(
            level=str(finding_level(f)),
            sentence=sentence(f),
            stack=[clean_text(line, 300) for line in (getattr(f, "stack", ()) or ())][-STACK_LINES:],
        )
        for f in ordered
    ]


def module_views(modules: tuple[ModuleOutcome, ...]) -> list[ModuleView]:
    """The modules worth a look first: failures, then the slowest imports."""
    ordered = sorted(modules, key=lambda m: (m.status == ModuleStatus.OK, -m.import_seconds))
    return [
        ModuleView(
            name=clean_text(m.name, NAME_LIMIT),
            status=str(m.status),
            ok=m.status == ModuleStatus.OK,
            top_level=m.top_level,
            import_time=duration(m.import_seconds),
            error=clean_text(m.error, MESSAGE_LIMIT) if m.error else "",
        )
        for m in ordered[:MODULES_SHOWN]
    ]


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms"


# --- audit reports -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistributionView:
    anchor: str
    name: str
    version: str
    direct: bool
    verdict: str
    fork_aware: bool
    cached: bool
    built_from_source: bool
    imported_with: str
    suppressed: str | None
    paths: list[list[str]]  # each a chain of names from a direct requirement to the distribution
    more_paths: int
    evidence: list[Sentence]
    more_evidence: int
    mitigations: list[str]
    after_fork: bool  # no verified variable: the advice is to import it after the fork
    modules: list[ModuleView]
    modules_hidden: int
    modules_failed: int
    findings: list[FindingView]
    package_url: str | None


@dataclass(frozen=True)
class FixView:
    """The verified variables of the audit's fix (AuditReport.fix) as one line to copy into a deployment."""

    assignments: str  # OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

    @property
    def dockerfile(self) -> str:
        return f"ENV {self.assignments}" if self.assignments else ""


@dataclass(frozen=True)
class ReportView:
    verdict: str
    headline: str
    lead: Sentence  # describe.headline: the culprits, how they got in, the fix
    fix: FixView | None
    fix_steps: list[Sentence]  # what to do in full: where to set the variables, how to import after the fork
    summary: dict[str, int]
    environment: dict[str, str]
    errors: list[str]
    offenders: list[DistributionView]  # not safe, most severe first
    safe: list[DistributionView]

    @property
    def distributions(self) -> list[DistributionView]:
        return [*self.offenders, *self.safe]


def report_view(data: Any) -> ReportView | None:
    """The stored JSON report ready to show; None if it cannot be read (written by an incompatible version)."""
    try:
        report = AuditReport.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("an audit report cannot be read", exc_info=True)
        return None
    distributions = [_distribution_view(index, d) for index, d in enumerate(by_severity(report.distributions))]
    env = report.environment
    return ReportView(
        verdict=str(report.verdict),
        headline=HEADLINES[report.verdict],
        lead=phrase_sentence(headline(report)),
        fix=fix_view(report),
        fix_steps=[phrase_sentence(step) for step in fix_steps(report)],
        summary=report.summary(),
        environment={
            "python": clean_text(env.python, CODE_LIMIT),
            "platform": clean_text(env.platform, CODE_LIMIT),
            "sandbox": clean_text(env.sandbox, CODE_LIMIT),
        },
        errors=[clean_text(error, MESSAGE_LIMIT * 2) for error in report.errors],
        offenders=[d for d in distributions if d.verdict != Verdict.SAFE],
        safe=[d for d in distributions if d.verdict == Verdict.SAFE],
    )


def fix_view(report: AuditReport) -> FixView | None:
    """The fix's variables, None when no variable was verified to stop anything unsafe (fix_steps then says to
    import after the fork)."""
    env = report.fix().env
    if not env:
        return None
    return FixView(assignments=" ".join(f"{clean_text(k, CODE_LIMIT)}={_env_value(v)}" for k, v in env.items()))


def _env_value(value: str) -> str:
    """A value as a Dockerfile's ENV and a shell read it: quoted unless it is plain."""
    value = clean_text(value, CODE_LIMIT)
    if value and all(c.isalnum() or c in "._-:,/+@%" for c in value):
        return value
    return json.dumps(value)


def _distribution_view(index: int, d: DistributionReport) -> DistributionView:
    # A path of one name is the direct requirement itself, shown as "direct".
    paths = [[clean_text(name, NAME_LIMIT) for name in p] for p in d.paths if len(p) > 1]
    findings = evidence(d)
    mitigations = verified_mitigations(d)
    return DistributionView(
        anchor=f"dist-{index}",
        name=clean_text(d.name, NAME_LIMIT),
        version=clean_text(d.version, NAME_LIMIT),
        direct=d.direct,
        verdict=str(d.verdict),
        fork_aware=d.fork_aware,
        cached=d.cached,
        built_from_source=d.built_from_source,
        imported_with=clean_text(d.imported_with, 300),
        suppressed=clean_text(d.suppressed, 200) if d.suppressed is not None else None,
        paths=paths[:PATHS_IN_TABLE],
        more_paths=max(0, len(paths) - PATHS_IN_TABLE),
        evidence=[sentence(f) for f in findings[:EVIDENCE_IN_TABLE]],
        more_evidence=max(0, len(findings) - EVIDENCE_IN_TABLE),
        mitigations=mitigations,
        after_fork=not mitigations and d.verdict in (Verdict.UNSAFE, Verdict.CAUTION),
        modules=module_views(d.modules),
        modules_hidden=max(0, len(d.modules) - MODULES_SHOWN),
        modules_failed=sum(1 for m in d.modules if m.status != ModuleStatus.OK),
        findings=finding_views(findings),
        package_url=_url("webui:package", name=d.name),
    )


def _url(url_name: str, **kwargs: str) -> str | None:
    """A link to a package page, or None when the name cannot be in a URL (package names are package-controlled)."""
    try:
        return reverse(url_name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def input_summary(audit: Audit, limit: int = 80) -> str:
    """A short label of what an audit audited: `pandas, requests` or the wheel file names."""
    if audit.input_kind == Audit.InputKind.WHEELS:
        try:
            names = [str(name) for name in json.loads(audit.input_text)]
        except (ValueError, TypeError):
            names = []
    else:
        names = []
        for line in audit.input_text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.append(line)
    return clean_text(", ".join(names) or "(no requirements)", limit)


# --- package pages -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeView:
    """One stored probe result of a package version."""

    record: ProbeRecord
    error: str | None
    modules: list[ModuleView]
    modules_hidden: int
    findings: list[FindingView]
    unreadable: bool = False
    modules_failed: int = 0


def probe_view(record: ProbeRecord) -> ProbeView:
    try:
        result = ProbeResult.from_dict(record.result)
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("stored result %s cannot be read", record.pk)
        return ProbeView(record=record, error=None, modules=[], modules_hidden=0, findings=[], unreadable=True)
    return ProbeView(
        record=record,
        error=clean_text(result.error, MESSAGE_LIMIT * 2) if result.error else None,
        modules=module_views(result.modules),
        modules_hidden=max(0, len(result.modules) - MODULES_SHOWN),
        findings=finding_views(list(result.findings)),
        modules_failed=sum(1 for m in result.modules if m.status != ModuleStatus.OK),
    )


@dataclass(frozen=True)
class RecordRow:
    """A stored result in a list, with the links to its package and version pages (None if not linkable)."""

    record: ProbeRecord
    package_url: str | None
    version_url: str | None


def record_rows(records: list[ProbeRecord]) -> list[RecordRow]:
    return [
        RecordRow(
            record=record,
            package_url=_url("webui:package", name=record.name),
            version_url=_url("webui:package-version", name=record.name, version=record.version),
        )
        for record in records
    ]
