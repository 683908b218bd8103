"""The Celery app. Workers run with the threads pool (see README, "Fork safety of the service itself")."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditor.project.settings")

app = Celery("forkaudit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["auditor"])
