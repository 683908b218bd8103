"""A plain-text table for the terminal, drawn by rich.

Every cell is a `rich.text.Text` built from cleaned strings (`sanitize.clean_text`), so a package cannot
inject rich markup (`[bold]` stays literal) nor terminal escape sequences (control characters are removed)."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.core.findings import AuditReport, DistributionReport
from auditor.core.report.describe import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    by_severity,
    counts_text,
    describe_finding,
    evidence,
    path_text,
    plain,
)
from auditor.core.report.sanitize import clean_text

EVIDENCE_LIMIT = 120  # characters of the most important finding shown per row


def _evidence(distribution: DistributionReport) -> str:
    findings = evidence(distribution)
    if not findings:
        return ""
    text = clean_text(plain(describe_finding(findings[0])), EVIDENCE_LIMIT)
    return f"{text} (+{len(findings) - 1} more)" if len(findings) > 1 else text


def _path(distribution: DistributionReport) -> str:
    paths = [p for p in distribution.paths if len(p) > 1]
    if not paths:
        return "direct" if distribution.direct else ""
    text = path_text(paths[0])
    return f"{text} (+{len(paths) - 1} more)" if len(paths) > 1 else text


def _table(report: AuditReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("package", overflow="fold")
    table.add_column("version", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("fork-aware", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    table.add_column("path", overflow="fold")
    for distribution in by_severity(report.distributions):
        table.add_row(
            Text(clean_text(distribution.name, NAME_LIMIT)),
            Text(clean_text(distribution.version, NAME_LIMIT)),
            Text(str(distribution.verdict) + (" (suppressed)" if distribution.suppressed is not None else "")),
            Text("yes" if distribution.fork_aware else "no"),
            Text(_evidence(distribution)),
            Text(_path(distribution)),
        )
    return table


def summary_line(report: AuditReport) -> str:
    """`12 distributions: 1 unsafe, 0 error, 2 caution, 9 safe; verdict: unsafe`."""
    summary = report.summary()
    noun = "distribution" if summary["distributions"] == 1 else "distributions"
    return f"{summary['distributions']} {noun}: {counts_text(report)}; verdict: {report.verdict}"


def render_table(report: AuditReport, *, width: int = 120) -> str:
    """The report as plain text at most `width` columns wide: one row per distribution, offenders first
    (package, version, verdict, fork-aware, the most important finding, the first dependency path), then
    audit problems if any, then the summary counts and the audit verdict on the last line. No colours, no
    escape sequences."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        force_interactive=False,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
    )
    console.print(_table(report))
    for error in report.errors:
        console.print(Text(f"audit problem: {clean_text(error, MESSAGE_LIMIT * 2)}"))
    console.print(Text(summary_line(report)))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
