"""/api/v1/schema/ and /api/v1/docs/: the OpenAPI schema, and a docs page that works offline."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_schema_describes_every_endpoint(anonymous: APIClient) -> None:
    response = anonymous.get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {path: sorted(ops) for path, ops in schema["paths"].items()} == {
        "/api/v1/audits/": ["post"],
        "/api/v1/audits/{id}/": ["get"],
        "/api/v1/packages/": ["get"],
        "/api/v1/packages/{name}/": ["get"],
        "/api/v1/packages/{name}/{version}/": ["get"],
        "/api/v1/unsafe/": ["get"],
    }
    submit = schema["paths"]["/api/v1/audits/"]["post"]
    assert sorted(submit["requestBody"]["content"]) == ["application/json", "multipart/form-data"]
    assert sorted(submit["responses"]) == ["202", "400", "401", "403", "413", "415", "429"]
    assert {"tokenAuth": []} in submit["security"] and {} not in submit["security"]
    multipart = schema["components"]["schemas"]["AuditSubmitMultipartRequest"]["properties"]
    assert (multipart["wheels"]["type"], multipart["wheels"]["items"]) == (
        "array",
        {"type": "string", "format": "binary"},
    )


def test_docs_page_loads_swagger_ui_from_this_server_only() -> None:
    browser = Client()

    page = browser.get("/api/v1/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "/api/v1/schema/" in html
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html)
    assert external == []
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        response = browser.get(asset)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
        response.close()


def test_unknown_url_under_the_api_is_a_json_404(anonymous: APIClient) -> None:
    response = anonymous.get("/api/v1/nothing/here/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such API endpoint.", "code": "not_found"}


def test_missing_trailing_slash_is_a_json_404_that_says_so(anonymous: APIClient) -> None:
    response = anonymous.post("/api/v1/audits", {"requirements": "requests\n"}, format="json")

    assert response.status_code == 404
    assert response.json()["detail"] == "No such API endpoint; API URLs end with a slash: /api/v1/audits/"
