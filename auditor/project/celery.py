"""The Celery app. Workers run with the threads pool (see README, "Fork safety of the service itself")."""

from __future__ import annotations

from celery import Celery

from auditor.project.startup import load_settings_or_exit

# Now rather than when the worker first reads its configuration: a bad setting stops it with a message.
load_settings_or_exit("forkaudit worker")

app = Celery("forkaudit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["auditor"])
