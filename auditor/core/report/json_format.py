"""The JSON report of docs/report-schema.md (schema `forkaudit-report/1`)."""

from __future__ import annotations

import json

from auditor.core.findings import AuditReport
from auditor.core.report.baseline import Comparison
from auditor.core.report.paths import strip_in


def render_json(report: AuditReport, *, baseline: Comparison | None = None) -> str:
    """Exactly `report.to_dict()`, indented by two spaces, keys in the order `to_dict()` produces them; against a
    `baseline`, with a last key `baseline`: each problem `new` or `known`, and the baseline's that are `fixed`.

    Non-ASCII and control characters are written as `\\u` escapes, so the document is plain ASCII whatever
    the audited packages named their threads. Ends with a newline."""
    data = strip_in(report.to_dict())  # no server paths (auditor.core.report.paths)
    if baseline is not None:
        data["baseline"] = baseline.to_dict()
    return json.dumps(data, indent=2) + "\n"
