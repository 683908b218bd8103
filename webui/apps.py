from __future__ import annotations

from django.apps import AppConfig


class WebuiConfig(AppConfig):
    name = "webui"
    verbose_name = "forkaudit web UI"
