"""/api/v1/: audits, packages, the OpenAPI schema and its docs page. Anything else under it is a JSON 404."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from auditor.api import browse, views
from auditor.api.errors import endpoint_not_found

app_name = "api"

urlpatterns: list[URLPattern | URLResolver] = [
    path("audits/", views.AuditSubmitView.as_view(), name="audits"),
    # str, not uuid: a malformed id gets the same 404 as an unknown one (the view parses it).
    path("audits/<str:id>/", views.AuditDetailView.as_view(), name="audit"),
    path("packages/", views.PackageSearchView.as_view(), name="packages"),
    path("unsafe/", browse.UnsafePackagesView.as_view(), name="unsafe"),
    path("packages/<str:name>/", views.PackageDetailView.as_view(), name="package"),
    path("packages/<str:name>/<str:version>/", views.PackageVersionView.as_view(), name="package-version"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^(?P<path>.*)$", endpoint_not_found),
]
