"""Tests of the report renderers (auditor.core.report), on reports built by hand from the domain dataclasses."""

from __future__ import annotations

import dataclasses
import json

import pytest

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
    Finding,
    ImportFailure,
    ModuleOutcome,
    ModuleStatus,
    RuntimeThread,
    ThreadOnImport,
    Verdict,
    Vulnerability,
)
from auditor.core.report import FORMATS, render
from auditor.core.report.describe import CODE_LIMIT
from auditor.core.report.json_format import render_json
from auditor.core.report.markdown import render_markdown
from auditor.core.report.sanitize import clean_text
from auditor.core.report.sarif import render_sarif
from auditor.core.report.table import render_table

ENVIRONMENT = Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap")
# A thread name chosen by a hostile package: breaks Markdown tables and code spans, injects rich markup, a link,
# a mention, clears the terminal and reverses the text that follows it.
HOSTILE_THREAD = "e|n`x` [bold]loud[/bold] [s](https://e.example) @t\x1b[2J\u202eend"


def _distribution(
    name: str,
    version: str,
    verdict: Verdict,
    findings: tuple[Finding, ...] = (),
    *,
    direct: bool = False,
    paths: tuple[tuple[str, ...], ...] = (),
    fork_aware: bool = False,
) -> DistributionReport:
    module = name.replace("-", "_")
    return DistributionReport(
        name=name,
        version=version,
        direct=direct,
        verdict=verdict,
        fork_aware=fork_aware,
        paths=paths or ((name,),),
        modules=(ModuleOutcome(name=module, status=ModuleStatus.OK, import_seconds=0.05),),
        findings=findings,
    )


def safe_requests() -> DistributionReport:
    return _distribution("requests", "2.32.3", Verdict.SAFE, direct=True)


def unsafe_numpy() -> DistributionReport:
    blas_thread = ThreadOnImport(
        thread="python",
        native=True,
        alive_after_import=True,
        module="numpy._core._multiarray_umath",
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
    )
    return _distribution("numpy", "2.4.6", Verdict.UNSAFE, (blas_thread,), paths=(("pandas", "numpy"),))


def caution_telemetry() -> DistributionReport:
    findings: tuple[Finding, ...] = (
        Vulnerability(id="GHSA-1234-abcd-5678", fix_versions=("1.4.1",)),
        ThreadOnImport(
            thread="flusher",
            native=False,
            daemon=True,
            alive_after_import=False,
            module="telemetry_kit.agent",
            file="site-packages/telemetry_kit/agent.py",
            line=12,
            mitigation={"env": {"TELEMETRY_KIT_DISABLED": "1"}, "verified": False},
        ),
        RuntimeThread(
            call="threading.Thread",
            scope="function",
            module="telemetry_kit.export",
            file="site-packages/telemetry_kit/export.py",
            line=40,
        ),
    )
    return _distribution(
        "telemetry-kit",
        "1.4.0",
        Verdict.CAUTION,
        findings,
        paths=(("app-sdk", "telemetry-kit"),),
        fork_aware=True,
    )


def error_broken() -> DistributionReport:
    timeout = ImportFailure(module="broken_pkg", reason="timeout", message="killed after 60 s")
    return _distribution("broken-pkg", "0.1", Verdict.ERROR, (timeout,), direct=True)


def hostile_distribution() -> DistributionReport:
    thread = ThreadOnImport(
        thread=HOSTILE_THREAD,
        native=False,
        daemon=True,
        alive_after_import=True,
        module="evil_pkg",
        file="site-packages/evil_pkg/__init__.py",
        line=3,
    )
    return _distribution("evil-pkg", "6.6.6", Verdict.UNSAFE, (thread,), direct=True)


def make_report(*distributions: DistributionReport, errors: tuple[str, ...] = ()) -> AuditReport:
    distributions = distributions or (safe_requests(), caution_telemetry(), unsafe_numpy(), error_broken())
    return AuditReport(
        verdict=Verdict.worst([d.verdict for d in distributions]),
        environment=ENVIRONMENT,
        distributions=distributions,
        errors=errors,
    )


def markdown_row(markdown: str, package: str) -> str:
    (row,) = [line for line in markdown.splitlines() if line.startswith(f"| {package} |")]
    return row


def markdown_cells(row: str) -> list[str]:
    """Split a table row the way GFM does: a backslash escapes the next character, other pipes end a cell."""
    cells: list[str] = []
    cell = ""
    chars = iter(row)
    for char in chars:
        if char == "\\":
            cell += char + next(chars, "")
        elif char == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    return cells[1:]


# render


def test_render_dispatches_each_format_to_its_renderer():
    report = make_report()
    renderers = {"table": render_table, "json": render_json, "markdown": render_markdown, "sarif": render_sarif}

    assert FORMATS == ("table", "json", "markdown", "sarif")
    for fmt in FORMATS:
        assert render(report, fmt) == renderers[fmt](report)


def test_render_rejects_an_unknown_format():
    with pytest.raises(ValueError, match="unknown report format 'html'; choose one of table, json, markdown, sarif"):
        render(make_report(), "html")


# clean_text


def test_clean_text_removes_terminal_escapes_and_bidi_overrides():
    assert clean_text("a\x1b[2Jb\u202ec\u200bd\x07") == "a[2Jbcd"


def test_clean_text_turns_line_breaks_into_single_spaces():
    assert clean_text(" one\r\ntwo\t\tthree\u2028four ") == "one two three four"


def test_clean_text_caps_length_with_an_ellipsis():
    assert clean_text("abcdefghij", 5) == "abcd…"
    assert clean_text("abcde", 5) == "abcde"


# JSON


def test_render_json_round_trips_to_to_dict():
    report = make_report()

    assert json.loads(render_json(report)) == report.to_dict()


def test_render_json_keeps_the_key_order_of_to_dict():
    report = make_report()
    data = json.loads(render_json(report))

    assert list(data) == list(report.to_dict())
    assert list(data["distributions"][0]) == list(report.to_dict()["distributions"][0])


def test_render_json_has_the_keys_of_the_design_contract():
    data = json.loads(render_json(make_report()))

    assert data["schema"] == "forkaudit-report/1"
    assert data["verdict"] == "unsafe"
    assert data["environment"] == {"python": "3.11.2", "platform": "linux-x86_64", "sandbox": "bwrap"}
    assert data["summary"] == {"distributions": 4, "unsafe": 1, "caution": 1, "safe": 1, "error": 1, "suppressed": 0}
    numpy = next(d for d in data["distributions"] if d["name"] == "numpy")
    assert {"name", "version", "direct", "verdict", "fork_aware", "paths", "modules", "findings", "cached"} <= set(
        numpy
    )
    assert numpy["paths"] == [["pandas", "numpy"]]
    assert numpy["modules"][0] == {"name": "numpy", "import_seconds": 0.05, "status": "ok", "top_level": True}
    thread = numpy["findings"][0]
    assert thread["kind"] == "thread-on-import"
    assert thread["native"] is True
    assert thread["thread"] == "python"
    assert thread["alive_after_import"] is True
    assert thread["module"] == "numpy._core._multiarray_umath"
    assert thread["mitigation"] == {"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True}


def test_render_json_writes_hostile_strings_as_escapes():
    output = render_json(make_report(hostile_distribution()))

    assert output.isascii()
    assert "\x1b" not in output
    assert json.loads(output)["distributions"][0]["findings"][0]["thread"] == HOSTILE_THREAD


# Markdown


def test_render_markdown_headline_has_the_verdict_and_the_counts():
    lines = render_markdown(make_report()).splitlines()

    assert lines[0] == (
        "## forkaudit: 🛑 numpy 2.4.6 (pulled in by pandas) leaves a native thread running after import — "
        "fix: `OPENBLAS_NUM_THREADS=1` (verified)"
    )
    assert lines[2:5] == ["<details>", "<summary>How to apply the fix</summary>", ""]
    assert lines[5] == "- Set `OPENBLAS_NUM_THREADS=1` (verified by forkaudit: it stops the threads of numpy)."
    assert "gunicorn's `--env` (`raw_env` in its configuration file) is applied early enough" in lines[6]
    assert lines[10] == (
        "**4 distributions**: 1 unsafe, 1 error, 1 caution, 1 safe · Python 3.11.2 · linux-x86\\_64 · sandbox bwrap"
    )


def test_render_markdown_heading_names_a_hostile_culprit_in_a_code_span():
    heading = render_markdown(make_report(hostile_distribution())).splitlines()[0]

    assert heading.startswith("## forkaudit: 🛑 evil-pkg 6.6.6 leaves a Python thread `` e|n`x` [bold]")
    assert "\x1b" not in heading and "\u202e" not in heading and "\n" not in heading
    assert heading.endswith("— fix: import it after the fork (no setting was verified to stop it)")


def test_render_markdown_lists_offenders_most_severe_first():
    markdown = render_markdown(make_report())
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| Package")]

    assert [markdown_cells(row)[0] for row in rows if not row.startswith("| ---")] == [
        "numpy",
        "broken-pkg",
        "telemetry-kit",
    ]


def test_render_markdown_shows_the_path_from_the_direct_requirement_and_the_mitigation():
    row = markdown_row(render_markdown(make_report()), "numpy")

    assert markdown_cells(row) == [
        "numpy",
        "2.4.6",
        "🛑 unsafe",
        "native thread `python` alive after import (module numpy.\\_core.\\_multiarray\\_umath)",
        "pandas → numpy",
        "`OPENBLAS_NUM_THREADS=1`",
    ]


def test_render_markdown_describes_each_finding_and_omits_unverified_mitigations():
    row = markdown_row(render_markdown(make_report()), "telemetry-kit")

    assert markdown_cells(row) == [
        "telemetry-kit",
        "1.4.0",
        "⚠️ caution (fork-aware)",
        "Python thread `flusher` (daemon) exited during import, started at "
        "site-packages/telemetry\\_kit/agent.py:12<br>"
        "known vulnerability `GHSA-1234-abcd-5678` (fixed in 1.4.1)<br>"
        "starts threads at runtime: threading.Thread at site-packages/telemetry\\_kit/export.py:40",
        "app-sdk → telemetry-kit",
        "",
    ]


def test_render_markdown_marks_direct_requirements_and_import_failures():
    row = markdown_row(render_markdown(make_report()), "broken-pkg")

    assert markdown_cells(row) == [
        "broken-pkg",
        "0.1",
        "❗ error",
        "import of broken\\_pkg timed out: `killed after 60 s`",
        "direct requirement",
        "",
    ]


def test_render_markdown_says_a_distribution_was_built_from_source():
    report = make_report()
    built = dataclasses.replace(report.distributions[-1], built_from_source=True)
    report = dataclasses.replace(report, distributions=(*report.distributions[:-1], built))

    row = markdown_row(render_markdown(report), built.name)

    assert "built from source (no usable wheel)" in markdown_cells(row)[4]


def test_render_markdown_says_how_a_distribution_had_to_be_imported():
    report = make_report()
    configured = dataclasses.replace(report.distributions[-1], imported_with="Django configured: settings.configure()")
    report = dataclasses.replace(report, distributions=(*report.distributions[:-1], configured))

    row = markdown_row(render_markdown(report), configured.name)

    assert "imported with Django configured" in markdown_cells(row)[4]


def test_render_markdown_escapes_a_hostile_thread_name():
    row = markdown_row(render_markdown(make_report(hostile_distribution())), "evil-pkg")
    cells = markdown_cells(row)

    assert len(cells) == 6  # the `|` in the name did not add a cell
    assert cells[3] == (
        "Python thread "
        "`` e\\|n`x` [bold]loud[/bold] [s](https://e.example) @t[2Jend `` "
        "(daemon) alive after import, started at site-packages/evil\\_pkg/\\_\\_init\\_\\_.py:3"
    )


def test_render_markdown_keeps_a_backslash_pipe_inside_its_cell():
    thread = ThreadOnImport(thread="a\\|b", native=True, alive_after_import=True, module="evil_pkg")
    distribution = _distribution("evil-pkg", "6.6.6", Verdict.UNSAFE, (thread,))
    cells = markdown_cells(markdown_row(render_markdown(make_report(distribution)), "evil-pkg"))

    assert len(cells) == 6
    assert cells[3] == "native thread `a\\\\\\|b` alive after import (module evil\\_pkg)"


def test_render_markdown_caps_the_length_of_hostile_names():
    thread = ThreadOnImport(thread="x" * 5000, native=True, alive_after_import=True, module="evil_pkg")
    distribution = _distribution("evil-pkg", "6.6.6", Verdict.UNSAFE, (thread,))
    cells = markdown_cells(markdown_row(render_markdown(make_report(distribution)), "evil-pkg"))

    assert cells[3] == f"native thread `{'x' * (CODE_LIMIT - 1)}…` alive after import (module evil\\_pkg)"


def test_render_markdown_collapses_the_safe_distributions():
    markdown = render_markdown(make_report())

    assert markdown.endswith("<details>\n<summary>1 safe distribution</summary>\n\n- requests 2.32.3\n\n</details>\n")
    assert "| requests |" not in markdown


def test_render_markdown_lists_audit_problems_as_code():
    markdown = render_markdown(make_report(errors=("resolver said: | `x`",)))

    assert "**Problems during the audit:**\n\n- `` resolver said: | `x` ``\n" in markdown


def test_render_markdown_without_offenders_says_so():
    markdown = render_markdown(make_report(safe_requests()))

    assert (
        markdown.splitlines()[0]
        == "## forkaudit: ✅ Fork-safe: nothing is left running or open after import (1 distribution)"
    )
    assert "How to apply the fix" not in markdown
    assert "No distribution leaves a thread, a process or an open socket behind after import." in markdown
    assert "| Package |" not in markdown


def test_render_markdown_mutes_missing_vulnerability_data_into_one_last_line():
    unreachable = (
        "vulnerability data unavailable: https://api.osv.dev cannot be reached (its name does not resolve here); "
        "FORKAUDIT_VULNERABILITY_SERVICE=none (or forkaudit audit --no-vulnerabilities) turns the lookup off"
    )
    markdown = render_markdown(make_report(errors=(unreachable,)))

    assert "Problems during the audit" not in markdown
    assert markdown.splitlines()[-1] == (
        "<sub>note: vulnerability data unavailable: https://api.osv.dev cannot be reached \\(its name does not resolve "
        "here\\); FORKAUDIT\\_VULNERABILITY\\_SERVICE=none \\(or forkaudit audit --no-vulnerabilities\\) turns the "
        "lookup off</sub>"
    )
