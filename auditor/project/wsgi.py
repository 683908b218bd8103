"""WSGI entry point (`gunicorn auditor.project.wsgi`; never with --preload, for the reason forkaudit exists)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditor.project.settings")

application = get_wsgi_application()
