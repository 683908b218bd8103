"""The server's own paths taken out of reports: they tell a reader nothing, and the world how the server is laid
out.

A probe records what it saw: commands and stacks hold the audit interpreter's prefix (`/root/.pyenv/versions/3.11.7`)
and the audit's work directory (`/dev/shm/forkaudit-0/work/<audit>/env`). A result is stored once and shown in every
later audit, where that work directory does not even exist. Every report shows them as the probe shows a package's
own files: relative to site-packages (`numpy/_core/multiarray.py`), the standard library as `python3.11/threading.py`,
an interpreter by its name (`python3.11`), anything else under an audit's directory relative to it.
"""

from __future__ import annotations

import re
from typing import Any

from auditor.core.findings import AuditReport

# An absolute path's leading directories: slash-separated segments, at the start of a path (not inside a relative one).
_LEAD = r"(?<![\w.~-])(?:/[^\s/:'\"()\[\],]+)*"
_RULES = (
    (re.compile(_LEAD + r"/(?:site|dist)-packages/"), ""),
    (re.compile(_LEAD + r"/lib/(python\d+\.\d+)/"), r"\1/"),
    (re.compile(_LEAD + r"/bin/(python[\d.]*)(?![\w/.-])"), r"\1"),
    (re.compile(_LEAD + r"/[0-9a-f]{32}/"), ""),  # an audit's work directory (auditor.cli.audit, the workflow)
)


def strip_server_paths(text: str) -> str:
    """`text` with the server's paths made relative (see the module's docstring)."""
    if "/" not in text:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def strip_in(data: Any) -> Any:
    """Every string in a JSON-like document (a report's dict) with the server's paths made relative."""
    if isinstance(data, str):
        return strip_server_paths(data)
    if isinstance(data, dict):
        return {key: strip_in(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [strip_in(value) for value in data]
    return data


def without_server_paths(report: AuditReport) -> AuditReport:
    """The report with the server's paths made relative in every finding, module error and audit problem."""
    return AuditReport.from_dict(strip_in(report.to_dict()))
