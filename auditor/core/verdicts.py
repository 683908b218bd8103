"""Verdicts (docs/verdicts.md): judged from a distribution's own findings; the most severe one wins."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.core.findings import (
    Finding,
    ForkTrial,
    ImportFailure,
    ModuleStatus,
    ProbeResult,
    ProcessOnImport,
    RuntimeThread,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
)


def finding_verdict(finding: Finding) -> Verdict:
    """What one finding alone makes of its distribution."""
    if isinstance(finding, ThreadOnImport):
        if finding.alive_after_import and finding.at_fork == "stopped":
            # Its library stops it at the fork (OpenBLAS's pool): observed by the fork trial, whose child also ran
            # its smoke test (a child that did not makes the trial's own finding unsafe). Not gone: it runs until
            # the fork and starts again after it, hence caution.
            return Verdict.CAUTION
        return Verdict.UNSAFE if finding.alive_after_import else Verdict.CAUTION
    if isinstance(finding, ForkTrial):
        # A child that hung or crashed after a real fork is the plainest fork-unsafety there is.
        return Verdict.SAFE if finding.child_ok else Verdict.UNSAFE
    if isinstance(finding, ProcessOnImport):
        # A child that ran and ended during the import (ldconfig, gcc) is noted, not judged.
        return Verdict.UNSAFE if finding.alive_after_import else Verdict.SAFE
    if isinstance(finding, SocketOnImport):
        return Verdict.CAUTION if finding.open_after_import else Verdict.SAFE
    if isinstance(finding, RuntimeThread):
        # Code that may start threads when called is information, not an observation: measured on five real sets,
        # 58 of 59 cautions were such hints (the forker itself, reloaders, test helpers), which users learn to ignore.
        # A module-level start is probed, and judged by what it does.
        return Verdict.SAFE
    if isinstance(finding, ImportFailure):
        killed = finding.reason in {str(s) for s in ModuleStatus if s.killed_probe}
        return Verdict.ERROR if killed or finding.reason in ("install", "resolve") else Verdict.SAFE
    return Verdict.SAFE  # at-fork handlers, fork calls and vulnerabilities are shown, not judged


def findings_verdict(findings: Iterable[Finding]) -> Verdict:
    return Verdict.worst([finding_verdict(f) for f in findings])


def probe_verdict(result: ProbeResult) -> Verdict:
    """The verdict of a probed distribution: its findings, or `error` if none of its top-level modules imported."""
    verdicts = [findings_verdict(result.findings)]
    top_level = [m for m in result.modules if m.top_level]
    if result.error or (top_level and not any(m.status == ModuleStatus.OK for m in top_level)):
        verdicts.append(Verdict.ERROR)
    return Verdict.worst(verdicts)
