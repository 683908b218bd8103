"""Renderers of an `AuditReport`: a terminal table, the JSON of docs/report-schema.md, Markdown for PR comments, SARIF.

Plain Python, no Django. Every renderer treats the strings that audited packages control as hostile."""

from __future__ import annotations

import importlib
from typing import Any

from auditor.core.findings import AuditReport

FORMATS = ("table", "json", "markdown", "sarif")

# Each renderer is imported when its format is asked for: the table's (rich) would slow a CI run that wants JSON
# (bench/README.md, finding 9).
_RENDERERS = {
    "table": ("auditor.core.report.table", "render_table"),
    "json": ("auditor.core.report.json_format", "render_json"),
    "markdown": ("auditor.core.report.markdown", "render_markdown"),
    "sarif": ("auditor.core.report.sarif", "render_sarif"),
}


def render(report: AuditReport, fmt: str, **options: Any) -> str:
    """The report in format `fmt`, one of `FORMATS`; raises `ValueError` for any other name. `options` go to the
    renderer (the table's `width` and `verbose`, SARIF's `origins`)."""
    try:
        module, function = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    renderer = getattr(importlib.import_module(module), function)
    return renderer(report, **options)


__all__ = ["FORMATS", "render"]
