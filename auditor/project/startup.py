"""Settings loaded first by every entry point (manage.py, the Celery worker, the WSGI application, the CLI).

Every setting is read and checked in one place, when auditor/project/settings.py is imported. This module makes that
happen before anything else, so that a bad value stops start-up with one line naming the variable and what it
allows, instead of a traceback, a 500 at the first request, or a crash mid-audit.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.conf import LazySettings

SETTINGS_MODULE = "auditor.project.settings"


def load_settings() -> LazySettings:
    """Django's settings, loaded now (from this project's module unless DJANGO_SETTINGS_MODULE names another);
    `ImproperlyConfigured` names the variable that cannot be used."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - the first read imports the settings module, which checks every variable
    return settings


def load_settings_or_exit(program: str, *, status: int = 2) -> None:
    """`load_settings`, or the refusal on stderr and exit with `status`."""
    try:
        load_settings()
    except ImproperlyConfigured as exc:
        print(f"{program}: configuration: {exc}", file=sys.stderr)
        raise SystemExit(status) from None
