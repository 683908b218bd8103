from __future__ import annotations

from django.apps import AppConfig


class AuditorConfig(AppConfig):
    name = "auditor"
    verbose_name = "forkaudit"
    default_auto_field = "django.db.models.BigAutoField"
