"""The project's URLs. The API (/api/v1/) and the web pages are added by their own apps."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("auditor.api.urls")),
    # The web pages at the root, last: /, /audits/, /packages/, /badge/, /accounts/login/.
    path("", include("webui.urls")),
]

# JSON under /api/ for what goes wrong before (or outside) a view; Django's own pages everywhere else.
handler400 = "auditor.api.errors.bad_request"
handler500 = "auditor.api.errors.server_error"
