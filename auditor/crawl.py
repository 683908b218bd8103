"""Crawls: the latest version of many projects probed through the service's own workflow, shared by every worker.

A crawl is a row and one item per project. `crawl_advance` hands out at most `concurrency` items at a time (the
politeness towards the index): each becomes a `crawl_item` task, which submits a normal public audit of the project
(auditor/workflow.py; it resolves the project to its newest version and holds the set to the crawl's size budget), so
the crawl stores, and reuses, exactly what any audit would. The task that ends an item's audit, or settles an item
without one, calls `crawl_advance` to hand out the next; `forkaudit crawl` calls it too, to report and to take over
what a lost worker left. Every step is a conditional UPDATE, so a redelivered task or a second driver never does
anything twice, and a crawl run again after a kill goes on with what it had not finished."""

from __future__ import annotations

import functools
import hashlib
import logging
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor import dispatch
from auditor.core.pipeline import default_python
from auditor.core.probe import PROBE_VERSION
from auditor.core.resolve import ResolutionError, resolve
from auditor.core.sources import sources_needed
from auditor.models import INDEX_ORIGIN, Audit, AuditDistribution, Crawl, CrawlItem, ProbeRecord
from auditor.services import audit_mark_failed

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 2
DEFAULT_MAX_DISTRIBUTIONS = 100
DEFAULT_ITEM_SECONDS = 30 * 60
_IN_FLIGHT = (CrawlItem.Status.QUEUED, CrawlItem.Status.RUNNING)
_FINISHED = (CrawlItem.Status.DONE, CrawlItem.Status.SKIPPED)


@dataclass(frozen=True)
class CrawlOptions:
    refresh: bool = False  # resolve projects already known, and audit those with a newer version
    shallow: bool = False
    concurrency: int = DEFAULT_CONCURRENCY  # projects resolved or audited at once
    max_distributions: int = DEFAULT_MAX_DISTRIBUTIONS  # a larger set is skipped
    item_seconds: int = DEFAULT_ITEM_SECONDS  # a project not done by then is skipped


# --- starting and resuming -----------------------------------------------------------------------------------------


def crawl_open(*, projects: Sequence[str], options: CrawlOptions) -> tuple[Crawl, bool]:
    """The unfinished crawl of the same projects with the same options (resumed: True), else a new one (False). The
    concurrency says how fast, not what: a crawl resumed with another goes on at the new one (its default depends on
    the machine's cores)."""
    digest = hashlib.sha256("\n".join(projects).encode()).hexdigest()
    wanted = {**options.__dict__, "projects_sha256": digest}
    for crawl in Crawl.objects.filter(status=Crawl.Status.RUNNING).order_by("-created"):
        if {**crawl.options, "concurrency": options.concurrency} == wanted:
            if crawl.options != wanted:
                Crawl.objects.filter(pk=crawl.pk).update(options=wanted)
                crawl.options = wanted
            return crawl, True
    with transaction.atomic():
        crawl = Crawl.objects.create(options=wanted)
        CrawlItem.objects.bulk_create(
            CrawlItem(crawl=crawl, rank=rank, project=project) for rank, project in enumerate(projects, start=1)
        )
    return crawl, False


def crawl_resume(*, crawl_id: int, requeue_audits: bool) -> None:
    """After a kill: hand the items that were with a worker out again, with a fresh budget (a delivery lost with a
    dead worker is sent anew; one still held is taken by whichever comes first, the other finds nothing to do).
    `requeue_audits` for a broker that loses a dead worker's tasks (the embedded one): their audits' first step is
    queued again too, which hands out only the distributions still pending."""
    now = timezone.now()
    CrawlItem.objects.filter(crawl_id=crawl_id, status__in=_IN_FLIGHT).update(dispatched=now)
    for item_id in CrawlItem.objects.filter(crawl_id=crawl_id, status=CrawlItem.Status.QUEUED).values_list(
        "pk", flat=True
    ):
        dispatch.enqueue("auditor.tasks.crawl_item", item_id)
    if requeue_audits:
        unfinished = Audit.objects.filter(
            crawl_items__crawl_id=crawl_id,
            crawl_items__status=CrawlItem.Status.RUNNING,
            status__in=[Audit.Status.QUEUED, Audit.Status.RUNNING],
        ).values_list("pk", flat=True)
        for audit_id in unfinished:
            dispatch.enqueue("auditor.tasks.prepare_audit", audit_id)


# --- one project (a task) ------------------------------------------------------------------------------------------


def crawl_item_run(*, item_id: int) -> None:
    """Submit the audit of a queued item's project, or settle the item at once (known, unresolvable) and hand out
    the next. The audit resolves the project to its newest version and holds its set to the crawl's size budget: a
    new project is resolved once. Only a refresh resolves a known project here first, to learn whether the database
    has its newest version."""
    item = CrawlItem.objects.select_related("crawl").filter(pk=item_id).first()
    if item is None or item.status != CrawlItem.Status.QUEUED:
        return  # a redelivery, or another delivery got there first
    options = CrawlOptions(**{k: v for k, v in item.crawl.options.items() if k != "projects_sha256"})
    stored = stored_versions(item.project, shallow=options.shallow)
    if stored and not options.refresh:
        _settle_now(item, CrawlItem.Status.DONE, outcome="known", version=_newest(stored))
        return
    version = None
    if stored:
        try:
            version = newest_version(item.project)
        except ResolutionError as exc:
            _settle_now(item, CrawlItem.Status.SKIPPED, outcome="unresolvable", reason=_first_lines(str(exc)))
            return
        if version in stored:
            _settle_now(item, CrawlItem.Status.DONE, outcome="known", version=version)
            return
    _submit(item, version=version, options=options)


def _settle_now(item: CrawlItem, status: str, **fields: str) -> None:
    """Settle an item without an audit, and hand out the next one."""
    _settle(item, status, **fields)
    crawl_advance(crawl_id=item.crawl_id)


def _submit(item: CrawlItem, *, version: str | None, options: CrawlOptions) -> None:
    requirement = f"{item.project}=={version}\n" if version else f"{item.project}\n"
    from auditor.workflow import audit_submit  # the workflow imports the whole engine: only the task needs it

    with transaction.atomic():
        audit = audit_submit(
            owner=None,
            requirements=[("requirements.txt", requirement.encode())],
            shallow=options.shallow,
            max_distributions=options.max_distributions,
        )
        claimed = CrawlItem.objects.filter(pk=item.pk, status=CrawlItem.Status.QUEUED).update(
            status=CrawlItem.Status.RUNNING, audit=audit, version=version or ""
        )
        if not claimed:  # settled meanwhile (its budget ran out): the audit is not wanted
            transaction.set_rollback(True)
    if claimed and audit.status == Audit.Status.DONE:  # finished at once (every result known): no task will say so
        crawl_advance(crawl_id=item.crawl_id)


def crawl_item_fail_unexpectedly(*, item_id: int, error: Exception) -> None:
    """Skip an item after an error its step did not expect (a bug, the machine), with the error as the reason, rather
    than leave it queued until its budget runs out."""
    logger.error("crawl item %s failed on an unexpected error", item_id, exc_info=error)
    item = CrawlItem.objects.filter(pk=item_id, status=CrawlItem.Status.QUEUED).first()
    if item is not None:
        reason = f"{type(error).__name__}: {error}"
        _settle_now(item, CrawlItem.Status.SKIPPED, outcome="internal-error", reason=reason)


def crawl_audit_ended(*, audit_id: uuid.UUID | str) -> None:
    """Settle the crawl item of an audit that has just ended and hand out the next project now, rather than at the
    driver's next look. Nothing for an audit that is not a crawl's, or not over."""
    over = (Audit.Status.DONE, Audit.Status.FAILED)
    crawl_id = (
        CrawlItem.objects.filter(audit_id=audit_id, status=CrawlItem.Status.RUNNING, audit__status__in=over)
        .values_list("crawl_id", flat=True)
        .first()
    )
    if crawl_id is not None:
        crawl_advance(crawl_id=crawl_id)


def newest_version(project: str) -> str | None:
    """The newest version of `project` installable on the audits' interpreter, from uv's resolution against the
    index (what its audit would install). A project that needs a source build to be resolved is not built here: None,
    and its audit resolves and builds it."""
    python = Path(settings.FORKAUDIT_PYTHON or default_python())
    with tempfile.TemporaryDirectory(prefix="forkaudit-crawl-") as workdir:
        try:
            resolution = resolve([project], python=python, workdir=Path(workdir))
        except ResolutionError as exc:
            if sources_needed(str(exc)):
                return None
            raise
    return resolution.pins.get(project)


def stored_versions(project: str, *, shallow: bool) -> set[str]:
    """The versions of `project` whose public results of the current probe the database holds."""
    return set(
        ProbeRecord.objects.filter(
            origin=INDEX_ORIGIN, name=project, probe_version=PROBE_VERSION, deep=not shallow
        ).values_list("version", flat=True)
    )


def _newest(versions: set[str]) -> str:
    def key(version: str) -> tuple[int, Version | str]:
        try:
            return (1, Version(version))
        except InvalidVersion:
            return (0, version)

    return max(versions, key=key)


def _first_lines(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[:lines])[:2000]


def _settle(item: CrawlItem, status: str, *, outcome: str, version: str = "", reason: str = "") -> bool:
    fields = {"status": status, "outcome": outcome, "reason": reason, "finished": timezone.now()}
    if version:
        fields["version"] = version
    return CrawlItem.objects.filter(pk=item.pk, status=item.status).update(**fields) == 1


# --- driving -------------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    total: int
    finished: int
    in_flight: int
    done: bool


def crawl_advance(*, crawl_id: int) -> Progress:
    """Settle the items whose audits have finished (or whose budget ran out), hand out more up to the concurrency,
    and mark the crawl done when nothing is left. Safe to call at any time, from anywhere, as often as wanted."""
    crawl = Crawl.objects.get(pk=crawl_id)
    options = crawl.options
    budget = timedelta(seconds=options["item_seconds"])
    now = timezone.now()
    in_flight_items = CrawlItem.objects.filter(crawl=crawl, status__in=_IN_FLIGHT)
    for item in in_flight_items.select_related("audit").defer("audit__report"):  # a report is large: not needed
        over_budget = item.dispatched is not None and now - item.dispatched > budget
        audit = item.audit
        version = _resolved_version(item)
        if item.status == CrawlItem.Status.RUNNING and audit is not None and audit.status == Audit.Status.DONE:
            _settle(item, CrawlItem.Status.DONE, outcome="probed", version=version)
        elif item.status == CrawlItem.Status.RUNNING and audit is not None and audit.status == Audit.Status.FAILED:
            outcome = _FAILURE_OUTCOMES.get(audit.failure_code, "audit-failed")
            _settle(item, CrawlItem.Status.SKIPPED, outcome=outcome, version=version, reason=_first_lines(audit.error))
        elif item.status == CrawlItem.Status.RUNNING and audit is None:
            _settle(item, CrawlItem.Status.SKIPPED, outcome="audit-failed", reason="its audit was deleted")
        elif over_budget:
            reason = f"not done within the crawl's budget of {options['item_seconds']} s"
            changed = _settle(item, CrawlItem.Status.SKIPPED, outcome="time-budget", version=version, reason=reason)
            if changed and audit is not None:
                # Its remaining distributions' tasks then find the audit finished and do nothing; what was probed
                # so far stays stored.
                audit_mark_failed(audit_id=audit.pk, error=f"the crawl stopped it: {reason}")
    counts = _status_counts(crawl)
    if counts["in_flight"] < options["concurrency"] and counts["pending"]:  # else no lock: the driver calls this often
        with transaction.atomic():
            # One hand-out at a time (the crawl's row locked; SQLite's transactions take the write lock when they
            # start): the driver and every worker that ends an audit call this, and the concurrency holds.
            Crawl.objects.select_for_update().filter(pk=crawl.pk).first()
            pending = CrawlItem.objects.filter(crawl=crawl, status=CrawlItem.Status.PENDING).order_by("rank")
            for item_id in list(pending.values_list("pk", flat=True)[: _room(crawl)]):
                handed = CrawlItem.objects.filter(pk=item_id, status=CrawlItem.Status.PENDING).update(
                    status=CrawlItem.Status.QUEUED, dispatched=timezone.now()
                )
                if handed:
                    transaction.on_commit(functools.partial(dispatch.enqueue, "auditor.tasks.crawl_item", item_id))
        counts = _status_counts(crawl)
    total, finished = counts["total"], counts["finished"]
    done = finished == total
    if done:
        Crawl.objects.filter(pk=crawl.pk, status=Crawl.Status.RUNNING).update(
            status=Crawl.Status.DONE, finished=timezone.now()
        )
    return Progress(total=total, finished=finished, in_flight=counts["in_flight"], done=done)


def _room(crawl: Crawl) -> int:
    """How many more of the crawl's items may be handed out now (read under the crawl's lock)."""
    in_flight = CrawlItem.objects.filter(crawl=crawl, status__in=_IN_FLIGHT).count()
    return max(0, crawl.options["concurrency"] - in_flight)


def crawl_done(*, crawl_id: int) -> bool:
    return Crawl.objects.filter(pk=crawl_id, status=Crawl.Status.DONE).exists()


def _status_counts(crawl: Crawl) -> dict[str, int]:
    """The crawl's items: how many in all, finished, in flight and not handed out yet, in one query."""
    by_status = dict(CrawlItem.objects.filter(crawl=crawl).values_list("status").annotate(Count("pk")).order_by())
    return {
        "total": sum(by_status.values()),
        "finished": sum(by_status.get(status, 0) for status in _FINISHED),
        "in_flight": sum(by_status.get(status, 0) for status in _IN_FLIGHT),
        "pending": by_status.get(CrawlItem.Status.PENDING, 0),
    }


_FAILURE_OUTCOMES = {
    Audit.FailureCode.RESOLUTION_FAILED: "unresolvable",
    Audit.FailureCode.TOO_LARGE: "too-large",
}


def _resolved_version(item: CrawlItem) -> str:
    """The version of the item's project that its audit resolved, once it has ("" before, or when it was given)."""
    if item.version or item.audit is None or not item.audit.graph:
        return ""
    return str(item.audit.graph.get("pins", {}).get(canonicalize_name(item.project), ""))


def crawl_items_finished(*, crawl_id: int, excluding: set[int]) -> list[CrawlItem]:
    """The crawl's finished items, but those in `excluding` (already shown), in the order they finished."""
    finished = CrawlItem.objects.filter(crawl_id=crawl_id, status__in=_FINISHED)
    new = set(finished.values_list("pk", flat=True)) - excluding  # not in SQL: `excluding` grows to the whole list
    return list(finished.filter(pk__in=new).select_related("audit").order_by("finished", "rank"))


# --- the summary ---------------------------------------------------------------------------------------------------


@dataclass
class Summary:
    projects: int
    projects_probed: int  # audited by this crawl
    projects_known: int  # already in the database
    skipped: Counter[str]  # cause -> projects
    distributions: int  # distinct distribution versions in the crawl's audits
    probed: int  # of those, probed by this crawl (the rest reused)
    verdicts: Counter[str]
    errors: Counter[str]  # cause -> distributions whose verdict is error

    def lines(self) -> list[str]:
        skipped = sum(self.skipped.values())
        lines = [
            f"{_count(self.projects, 'project')}: {self.projects_probed} audited, {self.projects_known} already known, "
            f"{skipped} skipped" + (f" ({_causes(self.skipped)})" if skipped else ""),
            f"{_count(self.distributions, 'distribution')} in their sets: {self.probed} probed, "
            f"{self.distributions - self.probed} reused; {self.verdicts['unsafe']} unsafe, "
            f"{self.verdicts['caution']} caution, {self.verdicts['safe']} safe, {self.verdicts['error']} error"
            + (f" ({_causes(self.errors)})" if self.errors else ""),
        ]
        return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _causes(counts: Counter[str]) -> str:
    return ", ".join(f"{count} {cause}" for cause, count in counts.most_common())


def crawl_summary(*, crawl_id: int) -> Summary:
    items = CrawlItem.objects.filter(crawl_id=crawl_id)
    outcomes = Counter(items.values_list("outcome", flat=True))
    skipped = Counter(items.filter(status=CrawlItem.Status.SKIPPED).values_list("outcome", flat=True))
    seen: dict[tuple[str, str], tuple[bool, str, str]] = {}  # (name, version) -> (probed here, verdict, cause)
    rows = AuditDistribution.objects.filter(
        audit__crawl_items__crawl_id=crawl_id, status=AuditDistribution.Status.DONE
    ).select_related("probe")
    for row in rows.iterator(chunk_size=500):
        probed = row.probe is not None and not row.cached
        verdict = row.probe.verdict if row.probe is not None else "error"
        cause = error_cause(row.probe.result if row.probe is not None else None) if verdict == "error" else ""
        key = (row.name, row.version)
        if key not in seen or (probed and not seen[key][0]):
            seen[key] = (probed, verdict, cause)
    return Summary(
        projects=items.count(),
        projects_probed=outcomes["probed"],
        projects_known=outcomes["known"],
        skipped=skipped,
        distributions=len(seen),
        probed=sum(1 for probed, _, _ in seen.values() if probed),
        verdicts=Counter(verdict for _, verdict, _ in seen.values()),
        errors=Counter(cause for _, verdict, cause in seen.values() if verdict == "error"),
    )


def error_cause(result: dict | None) -> str:
    """Why a distribution's verdict is error, in a word: not installed, or how its top-level imports failed."""
    if result is None or result.get("error"):
        return "not installed"
    statuses = [m.get("status") for m in result.get("modules", []) if m.get("top_level", True)]
    failed = [status for status in statuses if status != "ok"]
    if not statuses:
        return "nothing to import"
    return {"import-error": "import error", "skipped": "import error"}.get(failed[0], failed[0]) if failed else "other"
