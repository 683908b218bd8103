"""A whole audit of a directory of wheels a test built: offline, shallow, on a store in memory."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from auditor.core.cache import MemoryStore
from auditor.core.findings import DistributionReport, Verdict
from auditor.core.pipeline import AuditInput, AuditOptions, run_audit

OPTIONS = AuditOptions(use_index=False, timeout=10, python="/usr/bin/python3.11", shallow=True)


def audit_wheels(tmp_path: Path, wheels: Path, **options: Any) -> tuple[dict[str, DistributionReport], MemoryStore]:
    """Each distribution's report by name, and the store the audit wrote its results to."""
    store = MemoryStore()
    report = run_audit(
        AuditInput(wheels=tuple(sorted(wheels.glob("*.whl")))),
        workdir=tmp_path / "work",
        store=store,
        options=dataclasses.replace(OPTIONS, **options),
    )
    return {d.name: d for d in report.distributions}, store


def verdicts(found: dict[str, DistributionReport]) -> dict[str, Verdict]:
    return {name: d.verdict for name, d in found.items()}
