"""Renderers of an `AuditReport`: a terminal table, the JSON of DESIGN.md §9, Markdown for PR comments, SARIF.

Plain Python, no Django. Every renderer treats the strings that audited packages control as hostile."""

from __future__ import annotations

from collections.abc import Callable

from auditor.core.findings import AuditReport
from auditor.core.report.json_format import render_json
from auditor.core.report.markdown import render_markdown
from auditor.core.report.sarif import render_sarif
from auditor.core.report.table import render_table

FORMATS = ("table", "json", "markdown", "sarif")

_RENDERERS: dict[str, Callable[[AuditReport], str]] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "sarif": render_sarif,
}


def render(report: AuditReport, fmt: str) -> str:
    """The report in format `fmt`, one of `FORMATS`; raises `ValueError` for any other name."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return renderer(report)


__all__ = ["FORMATS", "render", "render_json", "render_markdown", "render_sarif", "render_table"]
