"""The JSON report of docs/report-schema.md (schema `forkaudit-report/1`)."""

from __future__ import annotations

import json

from auditor.core.findings import AuditReport


def render_json(report: AuditReport) -> str:
    """Exactly `report.to_dict()`, indented by two spaces, keys in the order `to_dict()` produces them.

    Non-ASCII and control characters are written as `\\u` escapes, so the document is plain ASCII whatever
    the audited packages named their threads. Ends with a newline."""
    return json.dumps(report.to_dict(), indent=2) + "\n"
