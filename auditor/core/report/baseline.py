"""Only what is new fails a pull request: a report compared with a baseline (the target branch's report).

A problem is known when the baseline has the same distribution (by name, not version: an upgrade that keeps the
thread is no news) with a finding of the same kind, the same thread (its library for a native thread, its name with
numbers left out for a Python thread; the program of a process, the family of a socket) and the same verdict (a
thread that used to end during the import and now stays alive is new). Findings that set no verdict are information
and never compared. A distribution that is not safe is new when it has at least one new problem, else known; the exit
code follows the new ones only.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Finding,
    ForkTrial,
    ImportFailure,
    ProcessOnImport,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
)
from auditor.core.verdicts import finding_verdict

KNOWN_REASON = "known: in the baseline"
MAX_BASELINE_BYTES = 64 * 1024 * 1024
_NUMBERS = re.compile(r"\d+")


class BaselineError(ValueError):
    """The baseline cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of a distribution, as compared with the baseline."""

    distribution: str  # canonical name
    kind: str  # the finding's kind, or "error" for a distribution that could not be probed
    what: str  # the thread (library or name), program, socket family, reason
    verdict: str  # what the finding makes of its distribution

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Comparison:
    new: tuple[Problem, ...]  # problems the baseline does not have
    known: tuple[Problem, ...]  # problems the baseline has too
    fixed: tuple[Problem, ...]  # problems of the baseline that are gone

    @property
    def new_distributions(self) -> frozenset[str]:
        return frozenset(p.distribution for p in self.new)

    def is_known(self, distribution: DistributionReport) -> bool:
        """Not safe, and every problem it has is in the baseline."""
        return (
            distribution.verdict != Verdict.SAFE and canonicalize_name(distribution.name) not in self.new_distributions
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "new": [p.to_dict() for p in self.new],
            "known": [p.to_dict() for p in self.known],
            "fixed": [p.to_dict() for p in self.fixed],
        }


def _what(finding: Finding) -> str:
    if isinstance(finding, ThreadOnImport):
        if finding.native:
            return finding.library or "native"
        return _NUMBERS.sub("N", finding.thread)  # Thread-3 and Thread-4 are the same thread in two runs
    if isinstance(finding, ProcessOnImport):
        program = finding.command.split(" ")[0] if finding.command else ""
        return program.rsplit("/", 1)[-1]
    if isinstance(finding, SocketOnImport):
        return finding.family
    if isinstance(finding, ForkTrial):
        return finding.child.split(":")[0]
    if isinstance(finding, ImportFailure):
        return finding.reason
    return ""


def problems(distribution: DistributionReport) -> set[Problem]:
    """The distribution's problems: its findings that set a verdict, or that it could not be probed."""
    name = canonicalize_name(distribution.name)
    found = set()
    for finding in distribution.findings:
        verdict = finding_verdict(finding)
        if verdict != Verdict.SAFE:
            found.add(Problem(name, finding.kind, _what(finding), str(verdict)))
    if distribution.verdict == Verdict.ERROR and not any(p.verdict == str(Verdict.ERROR) for p in found):
        found.add(Problem(name, "error", "", str(Verdict.ERROR)))
    return found


def _all_problems(report: AuditReport) -> set[Problem]:
    return {p for d in report.distributions if d.suppressed is None for p in problems(d)}


def compare(report: AuditReport, baseline: AuditReport) -> Comparison:
    """Each problem of `report` new or known against `baseline`, and the baseline's problems that are gone.
    Suppressed distributions are left out on both sides."""
    current, before = _all_problems(report), _all_problems(baseline)
    return Comparison(
        new=tuple(sorted(current - before)),
        known=tuple(sorted(current & before)),
        fixed=tuple(sorted(before - current)),
    )


def known_set_aside(report: AuditReport, comparison: Comparison) -> AuditReport:
    """The report with the known distributions set aside as suppressed ones are (so that its verdict, headline and
    fix are those of what is new)."""
    distributions = tuple(
        dataclasses.replace(d, suppressed=KNOWN_REASON) if d.suppressed is None and comparison.is_known(d) else d
        for d in report.distributions
    )
    verdict = Verdict.worst([d.verdict for d in distributions if d.suppressed is None])
    return dataclasses.replace(report, verdict=verdict, distributions=distributions)


def baseline_from_json(data: Any, source: str) -> AuditReport:
    """A forkaudit-report/1 document (as `--format json` writes it), or an audit of the API holding one."""
    if isinstance(data, dict) and "schema" not in data and isinstance(data.get("report"), dict):
        data = data["report"]  # GET /api/v1/audits/{id}/, saved as it is
    if not isinstance(data, dict):
        raise BaselineError(f"{source}: not a forkaudit JSON report (write one with --format json)")
    try:
        return AuditReport.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else f"missing or malformed {exc}"
        raise BaselineError(f"{source}: not a forkaudit JSON report (write one with --format json): {detail}") from None


def read_baseline(path: Path) -> AuditReport:
    """The baseline report in file `path`; BaselineError, naming the file, if it cannot be used."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BASELINE_BYTES + 1)
    except OSError as exc:
        raise BaselineError(f"--baseline {path}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_BASELINE_BYTES:
        raise BaselineError(f"--baseline {path}: larger than {MAX_BASELINE_BYTES // (1024 * 1024)} MiB")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BaselineError(f"--baseline {path}: not JSON ({exc})") from None
    return baseline_from_json(data, f"--baseline {path}")
