"""A plain-text table for the terminal, as wide as the terminal.

By default one line per distribution that is not safe (package, version, verdict, the fix, the most important finding,
the path from the direct requirement), cells cut to fit with an ellipsis, and the safe ones folded into one line;
`verbose` shows every distribution, finding and path, wrapped in their columns. Text is broken only between words,
and a name too long for its column only after a `/` or `.` (`numpy/_core/` `_multiarray.py`), never inside a word.

Every cell is built from cleaned strings (`sanitize.clean_text`): a package cannot move the cursor, recolour the
terminal or break out of its cell. No colours, no escape sequences."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.core.findings import AuditReport, DistributionReport, Verdict
from auditor.core.report.baseline import Comparison
from auditor.core.report.describe import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    audit_problems,
    baseline_headline,
    baseline_summary,
    by_severity,
    counts_text,
    describe_finding,
    evidence,
    fix_steps,
    headline_text,
    path_text,
    plain,
)
from auditor.core.report.paths import without_server_paths
from auditor.core.report.sanitize import ELLIPSIS, clean_text
from auditor.core.report.sarif import verified_fix

DEFAULT_WIDTH = 100  # when the output is not a terminal (a pipe, a file, CI's log) and $COLUMNS is not set
MIN_WIDTH = 40
GAP = "  "
RULE = "─"
# Within a word, a line may break only after these: names are dotted modules and slashed paths.
_BREAK_AFTER = re.compile(r"(?<=[/.])")


def terminal_width() -> int:
    """$COLUMNS if it is set, else the width of the terminal on stdout, else DEFAULT_WIDTH; at least MIN_WIDTH."""
    return max(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns or DEFAULT_WIDTH, MIN_WIDTH)


def cell_len(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pieces(word: str) -> list[str]:
    """A word cut after each `/` and `.`: the places a name may break."""
    return [piece for piece in _BREAK_AFTER.split(word) if piece]


def _fold(piece: str, width: int) -> list[str]:
    # Only a piece wider than the whole column (a 60-character word in a 20-column cell) is cut mid-word.
    lines, line = [], ""
    for char in piece:
        if line and cell_len(line + char) > width:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line else lines


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, broken between words, and inside a word only after `/` or `.`."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if cell_len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        for piece in _pieces(word):
            if cell_len(line + piece) <= width:
                line += piece
                continue
            if line:
                lines.append(line)
            *full, line = _fold(piece, width) if cell_len(piece) > width else [piece]
            lines.extend(full)
    if line or not lines:
        lines.append(line)
    return lines


def truncate(text: str, width: int) -> str:
    """`text` on one line of at most `width` columns: cut at the last space, `/` or `.` that leaves room for `…`."""
    if cell_len(text) <= width:
        return text
    room = width - cell_len(ELLIPSIS)
    cut = ""
    for match in re.finditer(r"[ /.]", text):
        head = text[: match.end()].rstrip()
        if cell_len(head) > room:
            break
        cut = head
    if not cut:  # no break point early enough: cut by characters rather than show nothing
        cut = "".join(_fold(text, max(room, 1))[:1])
    return cut + ELLIPSIS


@dataclass
class _Column:
    title: str
    cells: list[list[str]]  # per row, the cell's entries (each starts on a line of its own)
    cap: int  # the widest it is made: the evidence column gets what the others leave
    floor: int  # the narrowest it is made before the evidence column gets less than EVIDENCE_MIN

    def natural(self) -> int:
        return max([cell_len(self.title)] + [cell_len(entry) for cell in self.cells for entry in cell])

    def narrowest(self, verbose: bool) -> int:
        """On one line, its floor; wrapped (verbose), its longest unbreakable piece, so that no word is cut."""
        if not verbose:
            return min(self.floor, self.natural())
        entries = [self.title] + [entry for cell in self.cells for entry in cell]
        return max(cell_len(piece) for entry in entries for word in entry.split(" ") for piece in _pieces(word))


EVIDENCE_MIN = 30  # below this, the one-line table drops its `via` column to give the evidence room


def _widths(columns: Sequence[_Column], width: int, verbose: bool) -> list[int]:
    """Each column as wide as its content up to its cap, the last (the evidence) the rest; when that is under
    EVIDENCE_MIN, the others are narrowed, the widest first, down to their floors."""
    others = columns[:-1]
    widths = [min(column.natural(), column.cap) for column in others]
    floors = [column.narrowest(verbose) for column in others]
    available = width - cell_len(GAP) * (len(columns) - 1)
    while available - sum(widths) < EVIDENCE_MIN:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            break
        widths[max(shrinkable, key=lambda i: widths[i] - floors[i])] -= 1
    return [*widths, max(available - sum(widths), 1)]


def _verdict(distribution: DistributionReport, verbose: bool, baseline: Comparison | None) -> str:
    # Fork-awareness is information: on one line there is room only for what changes the exit code.
    notes = [
        ("fork-aware", verbose and distribution.fork_aware),
        ("suppressed", distribution.suppressed is not None),
        ("known", baseline is not None and distribution.suppressed is None and baseline.is_known(distribution)),
    ]
    return ", ".join([str(distribution.verdict), *(note for note, on in notes if on)])


def _fix(distribution: DistributionReport) -> str:
    fix = verified_fix(distribution)
    if fix:
        return " ".join(fix)
    return "import after fork" if distribution.verdict in (Verdict.UNSAFE, Verdict.CAUTION) else ""


def _evidence(distribution: DistributionReport, verbose: bool) -> list[str]:
    described = [plain(describe_finding(f)) for f in evidence(distribution)]
    if verbose or len(described) <= 1:
        return described
    return [f"{described[0]} (+{len(described) - 1} more)"]


def _via(distribution: DistributionReport, verbose: bool) -> list[str]:
    """How it got in: the path from the direct requirement down to it, itself left out (`pandas`), or `direct`."""
    chains = [path_text(p[:-1]) for p in distribution.paths if len(p) > 1]
    if not chains or distribution.direct:
        chains.insert(0, "direct" if distribution.direct else "")
    if verbose or len(chains) == 1:
        return chains
    more = len(chains) - 1
    return [f"{chains[0]} (+{more} more {'path' if more == 1 else 'paths'})"]


def _columns(rows: Sequence[DistributionReport], verbose: bool, baseline: Comparison | None) -> list[_Column]:
    return [
        _Column(
            "package", [[f"{clean_text(d.name, NAME_LIMIT)} {clean_text(d.version, NAME_LIMIT)}"] for d in rows], 40, 24
        ),
        _Column("verdict", [[_verdict(d, verbose, baseline)] for d in rows], 20, 18),
        # The fix is shown whole (JE_ARROW_MALLOC_CONF=background_thread:false is 42 columns), to be copied.
        _Column("fix", [[_fix(d)] for d in rows], 60, 30),
        _Column("via", [_via(d, verbose) for d in rows], 30, 10),
        _Column("evidence", [_evidence(d, verbose) for d in rows], 10_000, EVIDENCE_MIN),
    ]


def _suffix_kept(entry: str, width: int) -> str:
    """One line of `entry`, keeping a trailing `(+N more)` whole."""
    found = re.search(r" \(\+\d+ more( paths?)?\)$", entry)
    if not found or cell_len(entry) <= width or cell_len(found.group()) + 2 > width:
        return truncate(entry, width)
    return truncate(entry[: found.start()], width - cell_len(found.group())) + found.group()


def _lines(columns: Sequence[_Column], widths: Sequence[int], verbose: bool) -> list[str]:
    def row(cells: Sequence[str]) -> str:
        padded = [cell + " " * (w - cell_len(cell)) for cell, w in zip(cells, widths, strict=True)]
        return GAP.join(padded).rstrip()

    lines = [row([c.title for c in columns]), RULE * (sum(widths) + cell_len(GAP) * (len(widths) - 1))]
    for index in range(len(columns[0].cells)):
        if verbose:
            stacked = [
                [line for entry in c.cells[index] for line in wrap(entry, w)]
                for c, w in zip(columns, widths, strict=True)
            ]
            for depth in range(max(len(cell) for cell in stacked)):
                lines.append(row([cell[depth] if depth < len(cell) else "" for cell in stacked]))
        else:
            lines.append(row([_suffix_kept(c.cells[index][0], w) for c, w in zip(columns, widths, strict=True)]))
    return lines


def _via_line(via: str) -> str:
    return "direct requirement" if via == "direct" else f"via {via}"


def _layout(rows: Sequence[DistributionReport], width: int, verbose: bool, baseline: Comparison | None) -> list[str]:
    columns = _columns(rows, verbose, baseline)
    widths = _widths(columns, width, verbose)
    if widths[-1] < EVIDENCE_MIN:  # a narrow terminal: the evidence gets the path's column
        via, evidence = columns[-2], columns[-1]
        if verbose:  # every path is still shown, above the findings
            evidence.cells = [
                [_via_line(v) for v in vias if v] + found for vias, found in zip(via.cells, evidence.cells, strict=True)
            ]
        columns = [*columns[:-2], evidence]
        widths = _widths(columns, width, verbose)
    return _lines(columns, widths, verbose)


def summary_line(report: AuditReport) -> str:
    """`12 distributions: 1 unsafe, 0 error, 2 caution, 9 safe; verdict: unsafe`."""
    summary = report.summary()
    noun = "distribution" if summary["distributions"] == 1 else "distributions"
    return f"{summary['distributions']} {noun}: {counts_text(report)}; verdict: {report.verdict}"


def _safe_line(safe: Sequence[DistributionReport], width: int) -> str:
    names = ", ".join(f"{clean_text(d.name, NAME_LIMIT)} {clean_text(d.version, NAME_LIMIT)}" for d in safe)
    return truncate(f"{len(safe)} safe: {names}", width)


def render_table(
    report: AuditReport, *, width: int | None = None, verbose: bool = False, baseline: Comparison | None = None
) -> str:
    """The report as plain text at most `width` columns wide (default: the terminal's, see `terminal_width`).

    First the headline (the culprit and the fix, `describe.headline`), then one line per distribution that is not
    safe, most severe first, then the safe ones on one line; with `verbose`, every distribution with all its findings
    and paths, wrapped, and the steps of the fix. Then audit problems, the summary counts with the audit verdict, and
    notes (vulnerability data that could not be had), one line each. Against a `baseline`, the headline is what is
    new, and the known distributions come last."""
    width = max(width or terminal_width(), MIN_WIDTH)
    report = without_server_paths(report)
    ordered = by_severity(report.distributions)
    rows = ordered if verbose else [d for d in ordered if d.verdict != Verdict.SAFE]
    safe = [] if verbose else [d for d in ordered if d.verdict == Verdict.SAFE]
    # The culprit and the fix come first: most people read no further.
    if baseline is None:
        lines = wrap(headline_text(report), width)
    else:  # what the change adds, then the new rows before the known ones
        lines = wrap(plain(baseline_headline(report, baseline)), width) + wrap(baseline_summary(baseline), width)
        rows = sorted(rows, key=lambda d: baseline.is_known(d))
    if rows:
        lines += ["", *_layout(rows, width, verbose, baseline)]
    if safe:
        lines.append(_safe_line(safe, width))
    if verbose:
        for step in fix_steps(report):
            lines += ["", *wrap(plain(step), width)]
    problems, notes = audit_problems(report)
    if problems:
        lines.append("")
    for problem in problems:
        lines += wrap(f"audit problem: {clean_text(problem, MESSAGE_LIMIT * 2)}", width)
    lines += wrap(summary_line(report), width)
    lines += [truncate(f"note: {clean_text(note, None)}", width) for note in notes]  # muted: one line, last
    return "\n".join(line.rstrip() for line in lines) + "\n"
