"""The Celery app. Workers run with the threads pool (see README, "Fork safety of the service itself")."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init

from auditor.project.startup import load_settings_or_exit

# Now rather than when the worker first reads its configuration: a bad setting stops it with a message.
load_settings_or_exit("forkaudit worker")

app = Celery("forkaudit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["auditor"])


@worker_init.connect
def _import_before_the_first_task(**_: object) -> None:
    # The static scan's parser (libcst) is imported lazily, for the CLI's sake; a worker needs it for nearly every
    # task, and its import is a quarter of a second that the worker's first audit would wait for.
    import auditor.core.static.libcst_pass  # noqa: F401
