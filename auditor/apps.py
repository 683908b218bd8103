from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditorConfig(AppConfig):
    name = "auditor"
    verbose_name = "forkaudit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditor.seed import on_post_migrate

        # After this app's migrations: a fresh installation loads the seed dataset (auditor/seed.py).
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="auditor.seed")
