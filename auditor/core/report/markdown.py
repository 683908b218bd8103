"""A Markdown report meant for a pull-request comment (GitHub-flavoured Markdown).

Strings that audited packages control (thread names, modules, commands, messages) are hostile input here:
they are cleaned and capped (`sanitize.clean_text`), shown as code spans whose fence is longer than any
backtick run inside, and `|` is escaped inside table cells, so that no package can break the table, inject
links, HTML, or mentions."""

from __future__ import annotations

import re

from auditor.core.findings import AuditReport, DistributionReport, Verdict
from auditor.core.report.baseline import Comparison, known_set_aside
from auditor.core.report.describe import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    PATH_ARROW,
    Part,
    PartKind,
    Phrase,
    audit_problems,
    baseline_headline,
    baseline_summary,
    by_severity,
    counts_text,
    describe_finding,
    evidence,
    fix_steps,
    headline,
    offenders,
    verified_mitigations,
)
from auditor.core.report.paths import without_server_paths
from auditor.core.report.sanitize import clean_text

MAX_ROWS = 100  # offending distributions shown; a GitHub comment holds at most 65,536 characters
MAX_FINDINGS = 5  # findings shown per distribution
MAX_PATHS = 3  # dependency paths shown per distribution
MAX_SAFE = 500  # safe distributions listed

VERDICT_ICONS = {
    Verdict.UNSAFE: "🛑",
    Verdict.ERROR: "❗",
    Verdict.CAUTION: "⚠️",
    Verdict.SAFE: "✅",
}

# An identifier that can be shown as text once its punctuation is escaped: no spaces, no `@` (mentions), no
# `:` except a line-number suffix (no `scheme://` autolinks).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-/+!]+(:[0-9]+)?")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
_BACKTICK_RUNS = re.compile(r"`+")
_PIPE = re.compile(r"(\\*)\|")


def escape_text(text: str) -> str:
    """Backslash-escape the Markdown punctuation of `text` (cleaned first), `|` included."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", clean_text(text, None))


def code_span(text: str, *, in_table: bool) -> str:
    """`text` (cleaned first) as an inline code span that cannot be closed early by backticks inside it."""
    text = clean_text(text, None)
    if not text:
        return ""
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if in_table:
        # GFM splits cells before parsing code spans: escape each `|`, and double the backslashes before it so
        # that `\|` in the text cannot turn into an escaped backslash followed by a cell delimiter.
        text = _PIPE.sub(lambda m: m.group(1) * 2 + "\\|", text)
    padding = " " if longest else ""  # so that a leading or trailing backtick is not read as part of the fence
    return f"{fence}{padding}{text}{padding}{fence}"


def name_text(text: str, *, in_table: bool) -> str:
    """An identifier as escaped text if it looks like one, else as a code span."""
    if _PLAIN_NAME.fullmatch(text) and not text.lower().startswith("www."):
        return escape_text(text)
    return code_span(text, in_table=in_table)


def _part(part: Part, *, in_table: bool) -> str:
    if part.kind is PartKind.CODE:
        return code_span(part.text, in_table=in_table)
    if part.kind is PartKind.NAME:
        return name_text(part.text, in_table=in_table)
    return part.text


def _verdict_cell(distribution: DistributionReport) -> str:
    cell = f"{VERDICT_ICONS[distribution.verdict]} {distribution.verdict}"
    if distribution.fork_aware:
        cell += " (fork-aware)"
    if distribution.suppressed is not None:
        cell += f" — suppressed: {escape_text(clean_text(distribution.suppressed, 200))}"
    return cell


def _findings_cell(distribution: DistributionReport) -> str:
    findings = evidence(distribution)
    lines = ["".join(_part(p, in_table=True) for p in describe_finding(f)) for f in findings[:MAX_FINDINGS]]
    if len(findings) > MAX_FINDINGS:
        lines.append(f"… and {len(findings) - MAX_FINDINGS} more")
    return "<br>".join(lines)


def _path(path: tuple[str, ...]) -> str:
    return PATH_ARROW.join(name_text(clean_text(name, NAME_LIMIT), in_table=True) for name in path)


def _paths_cell(distribution: DistributionReport) -> str:
    # A path of one name is the direct requirement itself, said once below.
    paths = [_path(p) for p in distribution.paths if len(p) > 1]
    lines = paths[:MAX_PATHS]
    hidden = len(paths) - len(lines)
    if distribution.direct:
        lines.insert(0, "direct requirement")
    if distribution.built_from_source:
        lines.append("built from source (no usable wheel)")
    if distribution.imported_with:
        lines.append(f"imported with {escape_text(distribution.imported_with.split(':')[0])}")
    if hidden > 0:
        lines.append(f"… and {hidden} more")
    return "<br>".join(lines)


def _mitigation_cell(distribution: DistributionReport) -> str:
    return "<br>".join(code_span(m, in_table=True) for m in verified_mitigations(distribution))


def _row(distribution: DistributionReport) -> str:
    cells = [
        name_text(clean_text(distribution.name, NAME_LIMIT), in_table=True),
        name_text(clean_text(distribution.version, NAME_LIMIT), in_table=True),
        _verdict_cell(distribution),
        _findings_cell(distribution),
        _paths_cell(distribution),
        _mitigation_cell(distribution),
    ]
    return "| " + " | ".join(cells) + " |"


def _headline(report: AuditReport, baseline: Comparison | None) -> list[str]:
    summary = report.summary()
    env = report.environment
    environment = " · ".join(
        [
            f"Python {escape_text(env.python)}",
            escape_text(env.platform),
            f"sandbox {escape_text(env.sandbox)}",
        ]
    )
    noun = "distribution" if summary["distributions"] == 1 else "distributions"
    focus = report if baseline is None else known_set_aside(report, baseline)  # what the change adds
    line = headline(report) if baseline is None else baseline_headline(report, baseline)
    lines = [f"## forkaudit: {VERDICT_ICONS[focus.verdict]} {_phrase(line)}", ""]
    if baseline is not None:
        lines += [f"**{escape_text(baseline_summary(baseline))}**", ""]
    steps = fix_steps(focus)
    if steps:
        lines += ["<details>", "<summary>How to apply the fix</summary>", ""]
        lines += [f"- {_phrase(step)}" for step in steps]
        lines += ["", "</details>", ""]
    return [*lines, f"**{summary['distributions']} {noun}**: {counts_text(report)} · {environment}"]


def _phrase(phrase: Phrase) -> str:
    return "".join(_part(part, in_table=False) for part in phrase)


def _table(rows: list[DistributionReport]) -> list[str]:
    lines = [
        "| Package | Version | Verdict | What it does | Path | Verified mitigation |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_row(d) for d in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += ["", f"… and {len(rows) - MAX_ROWS} more offending distributions: see the full report."]
    return lines


def _offenders_table(report: AuditReport, baseline: Comparison | None) -> list[str]:
    rows = offenders(report)
    if not rows:
        return ["No distribution leaves a thread, a process or an open socket behind after import."]
    if baseline is None:
        return _table(rows)
    new = [d for d in rows if not baseline.is_known(d)]
    known = [d for d in rows if baseline.is_known(d)]
    lines = _table(new) if new else ["Nothing new against the baseline."]
    if known:
        noun = "distribution" if len(known) == 1 else "distributions"
        summary = f"{len(known)} {noun} known from the baseline (not counted)"
        lines += ["", "<details>", f"<summary>{summary}</summary>", "", *_table(known), "", "</details>"]
    return lines


def _safe_list(report: AuditReport) -> list[str]:
    safe = [d for d in by_severity(report.distributions) if d.verdict == Verdict.SAFE]
    if not safe:
        return []
    noun = "distribution" if len(safe) == 1 else "distributions"
    items = [
        f"- {name_text(clean_text(d.name, NAME_LIMIT), in_table=False)} "
        f"{name_text(clean_text(d.version, NAME_LIMIT), in_table=False)}" + (" (fork-aware)" if d.fork_aware else "")
        for d in safe[:MAX_SAFE]
    ]
    if len(safe) > MAX_SAFE:
        items.append(f"- … and {len(safe) - MAX_SAFE} more")
    return ["<details>", f"<summary>{len(safe)} safe {noun}</summary>", "", *items, "", "</details>"]


def _audit_errors(report: AuditReport) -> list[str]:
    problems, _ = audit_problems(report)
    if not problems:
        return []
    return [
        "**Problems during the audit:**",
        "",
        *(f"- {code_span(clean_text(e, MESSAGE_LIMIT * 2), in_table=False)}" for e in problems),
    ]


def _notes(report: AuditReport) -> list[str]:
    """What is missing but judges nothing, muted, last."""
    _, notes = audit_problems(report)
    return [f"<sub>note: {escape_text(clean_text(note, MESSAGE_LIMIT * 2))}</sub>" for note in notes]


def render_markdown(report: AuditReport, *, baseline: Comparison | None = None) -> str:
    """The report as a PR comment: a heading with the culprit and the fix (`describe.headline`), how to apply the
    fix (collapsed), the counts, a table of the offending distributions (unsafe, error, caution, in that order) with
    what they do, their dependency paths and verified mitigations, audit problems if any, then the safe distributions
    in a collapsed `<details>` list. Against a `baseline`, the heading and the table are what the change adds; the
    distributions known from the baseline are collapsed below it."""
    report = without_server_paths(report)
    sections = [
        _headline(report, baseline),
        _offenders_table(report, baseline),
        _audit_errors(report),
        _safe_list(report),
        _notes(report),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"
