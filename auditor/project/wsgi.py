"""WSGI entry point (`gunicorn auditor.project.wsgi`; never with --preload, for the reason forkaudit exists)."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

from auditor.project.startup import load_settings_or_exit

# Exit status 4 is gunicorn's "App failed to load": its master then stops, instead of starting workers that fail
# the same way again and again.
load_settings_or_exit("forkaudit web server", status=4)

application = get_wsgi_application()
