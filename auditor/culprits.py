"""What makes a stored result's verdict, in a few words each: the thread (native or Python, its library and the
shared object it runs in), process or socket left behind, or the import that failed, with the fix verified for it.

For the browsing pages and their API: the culprits of a package's newest result. Everything a package controls is
cleaned and capped here (`describe`'s limits); the web templates escape it, the API sends it as JSON strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.core.findings import (
    Finding,
    ForkTrial,
    ImportFailure,
    ProcessOnImport,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
    finding_from_dict,
)
from auditor.core.report.describe import CODE_LIMIT, MESSAGE_LIMIT, NAME_LIMIT, mitigation_text
from auditor.core.report.sanitize import clean_text
from auditor.core.verdicts import finding_verdict
from auditor.models import ProbeRecord


@dataclass(frozen=True)
class Culprit:
    """One finding that makes the verdict: what it is, its name, the library it runs in, its verified fix."""

    kind: str  # native thread, Python thread, child process, socket, import
    name: str  # thread name, command, address or module; may be empty
    library: str  # a native thread's well-known library (OpenBLAS), or empty
    library_file: str  # the shared object it runs in, or empty
    fix: str  # the verified mitigation (OPENBLAS_NUM_THREADS=1), or empty


def record_findings(record: ProbeRecord) -> list[Finding]:
    """The record's findings from their rows (prefetched by the selectors), skipping kinds this version cannot read."""
    findings = []
    for row in record.findings.all():
        try:
            findings.append(finding_from_dict(row.data))
        except (KeyError, TypeError, ValueError):
            continue
    return findings


def decisive(verdict: str, findings: list[Finding]) -> list[Finding]:
    """The findings that make `verdict` (for `error`, the import failures), most important first."""
    if verdict == Verdict.ERROR:
        return [f for f in findings if isinstance(f, ImportFailure)]
    return [f for f in findings if finding_verdict(f) == verdict]


def culprit(finding: Finding) -> Culprit:
    if isinstance(finding, ThreadOnImport):
        return Culprit(
            kind="native thread" if finding.native else "Python thread",
            name=clean_text(finding.thread, CODE_LIMIT),
            library=clean_text(finding.library, NAME_LIMIT) if finding.library else "",
            library_file=clean_text(finding.library_file, NAME_LIMIT) if finding.library_file else "",
            fix=mitigation_text(finding) or "",
        )
    if isinstance(finding, ProcessOnImport):
        return Culprit("child process", clean_text(finding.command, CODE_LIMIT), "", "", "")
    if isinstance(finding, SocketOnImport):
        return Culprit("socket", clean_text(finding.address or finding.family, CODE_LIMIT), "", "", "")
    if isinstance(finding, ForkTrial):
        return Culprit("fork trial", clean_text(finding.child, MESSAGE_LIMIT), "", "", "")
    if isinstance(finding, ImportFailure):
        return Culprit("import", clean_text(finding.message, MESSAGE_LIMIT), "", "", "")
    return Culprit(clean_text(finding.kind, CODE_LIMIT), "", "", "", "")


def verified_fix(findings: list[Finding]) -> str:
    """The settings verified to stop every decisive finding, or "" when one of them has none."""
    fixes = [mitigation_text(f) for f in findings]
    if not fixes or not all(fixes):
        return ""
    return " ".join(dict.fromkeys(fix for fix in fixes if fix))
