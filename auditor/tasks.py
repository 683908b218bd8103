"""Celery tasks: thin. They take ids, call one workflow service, and own the retry policy.

Every task is idempotent (the workflow claims work with conditional UPDATEs) and acknowledged late, so a task whose
worker is killed is delivered again and finishes the job without doing any of it twice. The probes bound their own
time (each interpreter has a wall-clock limit, uv calls have timeouts): the threads pool, which never forks, cannot
enforce Celery's time limits, so they are declared for other pools and not relied on.
"""

from __future__ import annotations

from celery import shared_task

from auditor import dispatch, workflow

ANALYSE_TIME_LIMIT = 60 * 60


@shared_task(name="auditor.tasks.prepare_audit", acks_late=True, time_limit=30 * 60)
def prepare_audit(audit_id: str) -> None:
    for distribution_id in workflow.audit_prepare(audit_id=audit_id):
        dispatch.enqueue("auditor.tasks.analyse_distribution", distribution_id)


@shared_task(
    bind=True,
    name="auditor.tasks.analyse_distribution",
    acks_late=True,
    time_limit=ANALYSE_TIME_LIMIT,
    max_retries=None,
)
def analyse_distribution(self, audit_distribution_id: str) -> None:  # type: ignore[no-untyped-def]
    try:
        workflow.audit_analyse(audit_distribution_id=int(audit_distribution_id))
    except workflow.ProbeInProgress as exc:
        # Another worker probes the same version for another audit: wait for its result instead of probing twice.
        raise self.retry(countdown=2, exc=exc) from exc
