"""Celery tasks: thin. They take ids, call one workflow service, and own the retry policy: a probe in progress
elsewhere is waited for; any other exception is one the workflow did not foresee (a retry would most likely meet it
again), so it fails the audit, with a reason for its owner, instead of leaving it `running` for ever.

Every task is idempotent (the workflow claims work with conditional UPDATEs) and acknowledged late, so a task whose
worker is killed is delivered again and finishes the job without doing any of it twice. The probes bound their own
time (each interpreter has a wall-clock limit, uv calls have timeouts): the threads pool, which never forks, cannot
enforce Celery's time limits, so they are declared for other pools and not relied on.
"""

from __future__ import annotations

import logging

from celery import shared_task

from auditor import dispatch, workflow
from auditor.claims import ProbeInProgress

logger = logging.getLogger(__name__)

ANALYSE_TIME_LIMIT = 60 * 60


@shared_task(name="auditor.tasks.prepare_audit", acks_late=True, time_limit=30 * 60)
def prepare_audit(audit_id: str) -> None:
    try:
        distribution_ids = workflow.audit_prepare(audit_id=audit_id)
    except Exception as exc:
        workflow.audit_fail_unexpectedly(audit_id=audit_id, error=exc)
        distribution_ids = []
    for distribution_id in distribution_ids:
        dispatch.enqueue("auditor.tasks.analyse_distribution", distribution_id)
    if not distribution_ids:  # the audit ended here (failed, or every result was stored)
        _crawl_next(audit_id)


@shared_task(
    bind=True,
    name="auditor.tasks.analyse_distribution",
    acks_late=True,
    time_limit=ANALYSE_TIME_LIMIT,
    max_retries=None,
)
def analyse_distribution(self, audit_distribution_id: str) -> None:  # type: ignore[no-untyped-def]
    distribution_id = int(audit_distribution_id)
    try:
        audit_id = workflow.audit_analyse(audit_distribution_id=distribution_id)
    except ProbeInProgress as exc:
        # Another worker probes the same version for another audit: wait for its result instead of probing twice.
        raise self.retry(countdown=2, exc=exc) from exc
    except Exception as exc:
        audit_id = workflow.audit_distribution_fail_unexpectedly(audit_distribution_id=distribution_id, error=exc)
    if audit_id is not None:
        _crawl_next(audit_id)


def _crawl_next(audit_id: object) -> None:
    """If the audit was a crawl's and is over, the crawl's next project is handed out now (not at the driver's next
    look). Never fails the audit's task: the driver would hand it out anyway."""
    from auditor import crawl  # the crawl's domain, imported by the tasks that need it only

    try:
        crawl.crawl_audit_ended(audit_id=str(audit_id))
    except Exception:
        logger.warning("the crawl of audit %s could not be advanced", audit_id, exc_info=True)


@shared_task(name="auditor.tasks.crawl_item", acks_late=True, time_limit=30 * 60)
def crawl_item(item_id: str) -> None:
    from auditor import crawl  # the crawl's domain, imported by the tasks that need it only

    try:
        crawl.crawl_item_run(item_id=int(item_id))
    except Exception as exc:
        crawl.crawl_item_fail_unexpectedly(item_id=int(item_id), error=exc)
