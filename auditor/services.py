"""Writes. Faces (CLI, API, web views, tasks) change the database only through these functions.

Every function is keyword-only and safe to call twice: tasks are retried and acknowledged late, so a repeated call
must leave the same state and must not count progress twice.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from packaging.utils import canonicalize_name

from auditor.core.cache import ProbeKey
from auditor.core.findings import AuditReport, Finding, ProbeResult, Verdict
from auditor.models import INDEX_ORIGIN, Audit, AuditDistribution, FindingRecord, ProbeRecord, probe_key_lookup

# Column widths of FindingRecord; the full values stay in `data`.
_MODULE_WIDTH = FindingRecord._meta.get_field("module").max_length or 300
_THREAD_WIDTH = FindingRecord._meta.get_field("thread").max_length or 200
_KEY_FIELDS = [field.name for field in dataclasses.fields(ProbeKey)]


def probe_record_store(
    *,
    key: ProbeKey,
    result: ProbeResult,
    verdict: str,
    owner: AbstractBaseUser | None = None,
) -> ProbeRecord:
    """Store `result` under `key`, replacing (atomically, findings included) any record already stored there.

    `owner` is kept only for a non-index origin: index results are public knowledge and belong to nobody.
    Concurrent calls for the same key do not raise; the last one wins.
    """
    verdict = Verdict(verdict).value  # ValueError on anything that is not a verdict
    fields = probe_key_lookup(key)
    defaults = {
        "owner": None if key.origin == INDEX_ORIGIN else owner,
        "verdict": verdict,
        "fork_aware": result.fork_aware,
        "sandbox": result.sandbox,
        "result": _without_nul(result.to_dict()),
        "seconds": result.seconds,
        "created": timezone.now(),
    }
    with transaction.atomic():
        # update_or_create locks an existing row (select_for_update) and, when two callers insert at once, retries
        # as an update after the unique constraint refuses the second insert.
        record, created = ProbeRecord.objects.update_or_create(defaults=defaults, **fields)
        if not created:
            record.findings.all().delete()
        FindingRecord.objects.bulk_create(_finding_record(record, finding) for finding in result.findings)
    return record


def probe_records_add(*, entries: Sequence[tuple[ProbeKey, ProbeResult, str, datetime]]) -> int:
    """Store public results that are new here, each `(key, result, verdict, created)`; returns how many were added.

    For results another installation exported: a key already stored keeps its record (what this database knows is
    never replaced by an import), as does a key repeated in `entries` (the first wins). Only index origins: an
    import never creates a private result.
    """
    new: dict[tuple[Any, ...], tuple[ProbeRecord, ProbeResult]] = {}
    for key, result, verdict, created in entries:
        if key.origin != INDEX_ORIGIN:
            raise ValueError(f"only public results can be added, not origin {key.origin!r}")
        lookup = probe_key_lookup(key)
        record = ProbeRecord(
            **lookup,
            verdict=Verdict(verdict).value,  # ValueError on anything that is not a verdict
            fork_aware=result.fork_aware,
            sandbox=result.sandbox,
            result=_without_nul(result.to_dict()),
            seconds=result.seconds,
            created=created,
        )
        new.setdefault(tuple(lookup[field] for field in _KEY_FIELDS), (record, result))
    with transaction.atomic():
        names = {record.name for record, _ in new.values()}
        for identity in ProbeRecord.objects.filter(origin=INDEX_ORIGIN, name__in=names).values_list(*_KEY_FIELDS):
            new.pop(tuple(identity), None)
        ProbeRecord.objects.bulk_create(record for record, _ in new.values())
        FindingRecord.objects.bulk_create(
            _finding_record(record, finding) for record, result in new.values() for finding in result.findings
        )
    return len(new)


def _finding_record(probe: ProbeRecord, finding: Finding) -> FindingRecord:
    data = _without_nul(finding.to_dict())
    thread = data.get("thread") if finding.kind == "thread-on-import" else None
    left_behind = data.get("alive_after_import", data.get("open_after_import"))
    return FindingRecord(
        probe=probe,
        kind=finding.kind,
        module=(data.get("module") or "")[:_MODULE_WIDTH],
        thread=(thread or "")[:_THREAD_WIDTH],
        native=data.get("native"),
        alive_after_import=left_behind,
        data=data,
    )


def _without_nul(value: Any) -> Any:
    """`value` with NUL characters replaced: PostgreSQL refuses them in text and jsonb, and package code chooses
    thread names, file names and error messages."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def audit_create(
    *,
    owner: AbstractBaseUser | None,
    input_kind: str,
    input_text: str,
    options: Mapping[str, Any] | None = None,
) -> Audit:
    """A new queued audit. `input_text` is the requirements text, or a JSON list of wheel file names.

    Enqueueing the work is the caller's job (on commit), so that this stays usable from the CLI.
    """
    kind = Audit.InputKind(input_kind)  # ValueError on an unknown kind
    if kind == Audit.InputKind.WHEELS:
        names = json.loads(input_text)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("input_text of a wheels audit must be a JSON list of file names")
    return Audit.objects.create(
        owner=owner,
        input_kind=kind,
        input_text=_without_nul(input_text),
        options=dict(options or {}),
    )


def audit_mark_running(*, audit_id: uuid.UUID | str) -> bool:
    """Claim a queued audit; False if it was already claimed, finished, or does not exist."""
    claimed = Audit.objects.filter(pk=audit_id, status=Audit.Status.QUEUED).update(
        status=Audit.Status.RUNNING, started=timezone.now()
    )
    return claimed == 1


def audit_graph_store(
    *, audit_id: uuid.UUID | str, graph: Mapping[str, Any], origins: Mapping[str, str] | None = None
) -> int:
    """Record the resolved graph, and with it which of its distributions are private (`origins`: uploaded wheels and
    what requires them, and whose; None keeps what the audit has), and create one pending AuditDistribution per pin;
    returns the number of pins. One write: nobody reads a graph whose private distributions are not marked yet.

    `graph` is {"direct": [names], "edges": [[requirer, required], ...], "pins": {name: version}}. Names are
    canonicalized. Calling it again with the same graph changes nothing (existing rows are kept, done or not).
    """
    pins = {canonicalize_name(name): str(version) for name, version in graph.get("pins", {}).items()}
    direct = sorted({canonicalize_name(name) for name in graph.get("direct", [])})
    edges = [[canonicalize_name(a), canonicalize_name(b)] for a, b in graph.get("edges", [])]
    unknown = [name for name in direct if name not in pins]
    if unknown:
        raise ValueError(f"direct requirements without a pin: {', '.join(unknown)}")
    with transaction.atomic():
        audit = Audit.objects.select_for_update().only("options").filter(pk=audit_id).first()
        if audit is None:
            raise Audit.DoesNotExist(f"no audit {audit_id}")
        Audit.objects.filter(pk=audit_id).update(
            graph={"direct": direct, "edges": edges, "pins": pins},
            progress_total=len(pins),
            options=audit.options if origins is None else {**audit.options, "origins": dict(origins)},
        )
        AuditDistribution.objects.bulk_create(
            [
                AuditDistribution(audit_id=audit_id, name=name, version=version, direct=name in direct)
                for name, version in sorted(pins.items())
            ],
            ignore_conflicts=True,
        )
    return len(pins)


def audit_distribution_complete(
    *,
    audit_distribution_id: int,
    probe: ProbeRecord | None,
    cached: bool,
    error: str = "",
) -> bool:
    """Mark a pending distribution done with its result (or, without one, the `error` that left it unprobed) and
    count it in the audit's progress.

    A conditional UPDATE: only the first call for a distribution returns True and moves the progress.
    """
    with transaction.atomic():
        distribution = AuditDistribution.objects.filter(pk=audit_distribution_id).only("audit_id").first()
        if distribution is None:
            return False
        done = AuditDistribution.objects.filter(
            pk=audit_distribution_id, status=AuditDistribution.Status.PENDING
        ).update(status=AuditDistribution.Status.DONE, probe=probe, cached=cached, error=error[:10_000])
        if done:
            Audit.objects.filter(pk=distribution.audit_id).update(progress_done=F("progress_done") + 1)
    return done == 1


def audit_distribution_probing(*, audit_distribution_id: int, modules: int) -> None:
    """Note that a worker has started probing a pending distribution, which imports `modules` modules (progress)."""
    AuditDistribution.objects.filter(pk=audit_distribution_id, status=AuditDistribution.Status.PENDING).update(
        probing_since=timezone.now(), modules_to_import=modules
    )


def audit_mark_done(*, audit_id: uuid.UUID | str, report: AuditReport) -> bool:
    """Finish an audit with its report; False if it had already finished (done or failed)."""
    finished = Audit.objects.filter(pk=audit_id, status__in=[Audit.Status.QUEUED, Audit.Status.RUNNING]).update(
        status=Audit.Status.DONE,
        verdict=report.verdict.value,
        report=_without_nul(report.to_dict()),
        finished=timezone.now(),
    )
    return finished == 1


def audit_mark_failed(
    *, audit_id: uuid.UUID | str, error: str, code: Audit.FailureCode = Audit.FailureCode.INTERNAL
) -> bool:
    """Finish an audit as failed with a message for its owner and a code for programs (the server's fault unless
    told otherwise); False if it had already finished."""
    finished = Audit.objects.filter(pk=audit_id, status__in=[Audit.Status.QUEUED, Audit.Status.RUNNING]).update(
        status=Audit.Status.FAILED, error=_without_nul(error), failure_code=code, finished=timezone.now()
    )
    return finished == 1
