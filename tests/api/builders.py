"""Stored probe results for the package endpoints' tests: public (index) ones, and private ones of uploaded wheels."""

from __future__ import annotations

import dataclasses

from django.contrib.auth.models import User

from auditor.core.findings import Finding, Verdict
from auditor.models import ProbeRecord
from auditor.services import probe_record_store
from tests.probe_results import probe_key, probe_result


def store_result(
    name: str,
    version: str = "1.0",
    verdict: str = Verdict.SAFE,
    findings: tuple[Finding, ...] = (),
    *,
    owner: User | None = None,
    python: str = "3.11.7",
    fork_aware: bool = False,
) -> ProbeRecord:
    """A stored result; with an `owner`, one of a wheel that owner uploaded (origin `upload:<id>:<sha>`)."""
    origin = "index" if owner is None else f"upload:{owner.pk}:{'ab' * 32}"
    key = dataclasses.replace(probe_key(name, version, origin=origin), python=python)
    result = probe_result(name, version, findings, fork_aware=fork_aware)
    return probe_record_store(key=key, result=result, verdict=verdict, owner=owner)
