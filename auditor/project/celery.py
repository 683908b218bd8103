"""The Celery app. Workers run with the threads pool (see README, "Fork safety of the service itself")."""

from __future__ import annotations

import contextlib
import subprocess

from celery import Celery
from celery.signals import worker_init
from django.conf import settings

from auditor.project.startup import load_settings_or_exit

# Now rather than when the worker first reads its configuration: a bad setting stops it with a message.
load_settings_or_exit("forkaudit worker")

app = Celery("forkaudit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["auditor"])


@worker_init.connect
def _prepare_before_the_first_task(**_: object) -> None:
    # What nearly every task needs and the first would otherwise wait for: the static scan's parser (libcst, imported
    # lazily for the CLI's sake: a quarter of a second) and the audits' interpreter's version (one interpreter start).
    import auditor.core.static.libcst_pass  # noqa: F401
    from auditor.core.environments import interpreter_info
    from auditor.core.pipeline import default_python

    with contextlib.suppress(OSError, ValueError, subprocess.CalledProcessError):  # then the first audit says why
        interpreter_info(settings.FORKAUDIT_PYTHON or default_python())
