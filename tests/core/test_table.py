"""The terminal table (auditor.core.report.table): as wide as the terminal, the fix shown, one line per offender by
default and everything with `verbose`, names broken only at `/` and `.`."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.core.report.table import DEFAULT_WIDTH, render_table, terminal_width, wrap
from tests.core.test_report import (
    caution_telemetry,
    error_broken,
    hostile_distribution,
    make_report,
    safe_requests,
    unsafe_numpy,
)

OFFENDERS = ("evil-pkg", "numpy", "broken-pkg", "telemetry-kit")


def full_report():
    more_safe = [dataclasses.replace(safe_requests(), name=f"safe-{i}", version="1.0") for i in range(30)]
    return make_report(
        hostile_distribution(), unsafe_numpy(), error_broken(), caution_telemetry(), safe_requests(), *more_safe
    )


def table_of(output: str) -> list[str]:
    """The table's lines, from its header down: the headline and the blank line after it left out."""
    lines = output.splitlines()
    return lines[lines.index("") + 1 :]


def rows_of(output: str) -> list[str]:
    """The table's rows, header and rule left out."""
    return table_of(output)[2:]


def assert_breaks_only_between_words_or_after_a_slash_or_dot(text: str, lines: list[str]) -> None:
    position = 0
    for line in lines:
        assert text.startswith(line, position), (text, lines)
        position += len(line)
        if position < len(text):
            if text[position] == " ":
                position += 1
            else:
                assert text[position - 1] in "/.", f"broken mid-word: {line!r}"
    assert position == len(text)


@pytest.mark.parametrize("width", [80, 200])
def test_the_table_fits_the_width_with_one_line_per_offender_and_the_safe_ones_folded(width):
    output = render_table(full_report(), width=width)
    lines = table_of(output)

    assert max(len(line) for line in output.splitlines()) <= width
    assert output.startswith("evil-pkg 6.6.6 and numpy 2.4.6 (pulled in by pandas) leave threads running")
    assert lines[0].split() == (["package", "verdict", "fix", "evidence"] if width < 100 else lines[0].split())
    assert [row.split()[0] for row in rows_of(output)[: len(OFFENDERS)]] == list(OFFENDERS)
    safe_line = rows_of(output)[len(OFFENDERS)]
    assert safe_line.startswith("31 safe: requests 2.32.3, safe-0 1.0, safe-1 1.0")
    assert lines[-1] == "35 distributions: 2 unsafe, 1 error, 1 caution, 31 safe; verdict: unsafe"
    assert len(lines) == 2 + len(OFFENDERS) + 1 + 1


def test_at_80_columns_the_fix_is_whole_and_the_evidence_is_cut_at_a_word():
    numpy = next(row for row in rows_of(render_table(full_report(), width=80)) if row.startswith("numpy "))

    assert numpy.split()[:4] == ["numpy", "2.4.6", "unsafe", "OPENBLAS_NUM_THREADS=1"]
    evidence = numpy.split("OPENBLAS_NUM_THREADS=1")[1].strip()
    assert evidence.endswith("…")
    assert "native thread `python` alive after import (module numpy._core._multiarray_umath)".startswith(
        evidence.removesuffix("…")
    )
    assert evidence.removesuffix("…")[-1] in " /.`" or evidence.removesuffix("…").endswith(("`python`", "import"))


def test_at_200_columns_every_column_has_room():
    rows = rows_of(render_table(full_report(), width=200))
    (numpy,) = [row for row in rows if row.startswith("numpy ")]
    (telemetry,) = [row for row in rows if row.startswith("telemetry-kit ")]

    assert table_of(render_table(full_report(), width=200))[0].split() == [
        "package",
        "verdict",
        "fix",
        "via",
        "evidence",
    ]
    assert [cell.strip() for cell in numpy.split("  ") if cell.strip()] == [
        "numpy 2.4.6",
        "unsafe",
        "OPENBLAS_NUM_THREADS=1",
        "pandas",
        "native thread `python` alive after import (module numpy._core._multiarray_umath)",
    ]
    assert [cell.strip() for cell in telemetry.split("  ") if cell.strip()] == [
        "telemetry-kit 1.4.0",
        "caution",  # fork-aware: information, shown with verbose
        "import after fork",  # its mitigation is not verified
        "app-sdk",
        "Python thread `flusher` (daemon) exited during import, started at site-packages/telemetry_kit/agent.py:12 "
        "(+2 more)",
    ]


@pytest.mark.parametrize("width", [80, 200])
def test_verbose_shows_every_distribution_finding_and_path_within_the_width(width):
    report = full_report()
    output = render_table(report, width=width, verbose=True)
    flat = " ".join(output.split())

    assert max(len(line) for line in output.splitlines()) <= width
    assert "31 safe:" not in output  # not folded
    assert "fork-aware" in output
    for distribution in report.distributions:
        assert f"{distribution.name} {distribution.version}" in flat or distribution.name in flat
    for text in ("known vulnerability", "GHSA-1234-abcd-5678", "starts threads at runtime", "export.py:40"):
        assert text in output  # every finding of telemetry-kit, no word cut
    assert "numpy._core." in output and "_multiarray_umath" in output


def test_verbose_at_80_columns_breaks_names_only_after_a_slash_or_dot():
    output = render_table(full_report(), width=80, verbose=True)
    evidence_column = table_of(output)[0].index("evidence")
    evidence_lines = [line[evidence_column:] for line in table_of(output)[2:] if len(line) > evidence_column]

    assert "telemetry_kit/agent.py:12" in "".join(evidence_lines)  # split over lines only at its slashes or dots
    for line in evidence_lines:
        last = line.split(" ")[-1]
        assert not last.endswith(("_multiarray_u", "site-packa", "GHSA-1234")), line


@pytest.mark.parametrize("width", range(6, 60, 7))
def test_wrap_breaks_between_words_or_after_a_slash_or_dot(width):
    for text in (
        "native thread `python` alive after import (module numpy._core._multiarray_umath)",
        "Python thread `flusher` (daemon) exited during import, started at site-packages/telemetry_kit/agent.py:12",
        "app-sdk → telemetry-kit",
    ):
        lines = wrap(text, width)
        assert all(len(line) <= width for line in lines)
        if all(len(piece) <= width for piece in text.replace("/", "/ ").replace(".", ". ").split()):
            assert_breaks_only_between_words_or_after_a_slash_or_dot(text, lines)


def test_the_width_is_columns_else_the_default_when_not_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert terminal_width() == 80
    assert max(len(line) for line in render_table(full_report()).splitlines()) <= 80

    monkeypatch.delenv("COLUMNS")
    assert terminal_width() == DEFAULT_WIDTH  # pytest captures stdout: not a terminal


def test_hostile_markup_is_shown_literally_without_escape_sequences(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")

    for verbose in (False, True):
        output = render_table(make_report(hostile_distribution()), width=300, verbose=verbose)
        assert "[bold]loud[/bold]" in output
        assert "\x1b" not in output and "\u202e" not in output
        assert all(line.isprintable() for line in output.splitlines())


def test_an_audit_of_safe_distributions_only_is_the_headline_one_line_and_the_summary():
    output = render_table(make_report(safe_requests()), width=80)

    assert output.splitlines() == [
        "Fork-safe: nothing is left running or open after import (1 distribution)",
        "1 safe: requests 2.32.3",
        "1 distribution: 0 unsafe, 0 error, 0 caution, 1 safe; verdict: safe",
    ]


def test_audit_problems_come_before_the_summary_and_notes_after_it_on_one_line():
    unreachable = (
        "vulnerability data unavailable: https://api.osv.dev cannot be reached (its name does not resolve here); "
        "FORKAUDIT_VULNERABILITY_SERVICE=none (or forkaudit audit --no-vulnerabilities) turns the lookup off"
    )
    lines = render_table(make_report(errors=("the index was slow", unreachable)), width=80).splitlines()

    assert lines[-3:] == [
        "audit problem: the index was slow",
        "4 distributions: 1 unsafe, 1 error, 1 caution, 1 safe; verdict: unsafe",
        "note: vulnerability data unavailable: https://api.osv.dev cannot be reached…",
    ]
    wide = render_table(make_report(errors=(unreachable,)), width=300).splitlines()
    assert wide[-1] == f"note: {unreachable}"
    assert not any(line.startswith("audit problem") for line in wide)


def test_the_headline_names_the_culprit_and_the_fix_first_and_verbose_adds_how_to_apply_it():
    report = make_report(unsafe_numpy(), safe_requests())
    output = render_table(report, width=200)
    verbose = render_table(report, width=200, verbose=True)

    assert output.splitlines()[0] == (
        "numpy 2.4.6 (pulled in by pandas) leaves a native thread running after import — "
        "fix: OPENBLAS_NUM_THREADS=1 (verified)"
    )
    assert output.splitlines()[1] == ""
    assert "Dockerfile" not in output  # one line per offender by default
    assert verbose.splitlines()[0] == output.splitlines()[0]
    assert "Set `OPENBLAS_NUM_THREADS=1` (verified by forkaudit" not in verbose  # a name, shown bare
    assert "Set OPENBLAS_NUM_THREADS=1 (verified by forkaudit: it stops the threads of numpy)." in verbose
    assert "gunicorn's `--env` (`raw_env` in its configuration file) is applied early enough" in " ".join(
        verbose.split()
    )
