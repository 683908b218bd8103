"""The web pages (docs/architecture.md): new audit, progress and report, package search and pages, badges, login."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path

from webui import views

app_name = "webui"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.new_audit, name="new-audit"),
    # str, not uuid: a malformed id gets the same 404 as an unknown one (the selector parses it).
    path("audits/<str:audit_id>/", views.audit_detail, name="audit"),
    path("audits/<str:audit_id>/report.<str:fmt>", views.audit_report, name="audit-report"),
    path("packages/", views.package_search, name="packages"),
    path("unsafe/", views.unsafe_packages, name="unsafe"),
    path("packages/<str:name>/", views.package_detail, name="package"),
    path("packages/<str:name>/<str:version>/", views.package_version, name="package-version"),
    path("badge/<str:name>.svg", views.badge, name="badge"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="webui/login.html",
            redirect_authenticated_user=True,
            next_page="webui:new-audit",
            extra_context={"nav": "login"},
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="webui:new-audit"), name="logout"),
]
