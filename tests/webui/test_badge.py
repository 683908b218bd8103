"""/badge/<name>.svg : `fork-safety | <verdict of the newest public version>`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor.core.findings import Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread
from webui.badge import COLOURS

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


def texts(body: bytes) -> list[str]:
    root = ET.fromstring(body)
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_badge_shows_the_verdict_of_the_newest_public_version() -> None:
    store_result("numpy", "1.26.4", Verdict.SAFE)
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))

    response = Client().get("/badge/numpy.svg")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert set(texts(response.content)) == {"fork-safety", "unsafe"}
    assert f'fill="{COLOURS["unsafe"]}"' in response.content.decode()
    assert "fork-safety of numpy: unsafe" in response.content.decode()


def test_badge_is_cached_briefly_and_runs_nothing() -> None:
    response = Client().get("/badge/numpy.svg")

    assert response["Cache-Control"] in ("max-age=300, public", "public, max-age=300")
    assert response["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize("verdict", ["safe", "caution", "error", "unsafe"])
def test_each_verdict_has_its_colour(verdict: str) -> None:
    store_result("demo", "1.0", verdict)

    body = Client().get("/badge/demo.svg").content.decode()

    assert f'fill="{COLOURS[verdict]}"' in body
    assert f">{verdict}</text>" in body


def test_badge_is_unknown_without_a_result() -> None:
    response = Client().get("/badge/nosuchpackage.svg")

    assert response.status_code == 200
    assert set(texts(response.content)) == {"fork-safety", "unknown"}


def test_private_wheel_results_do_not_change_the_badge(alice: User) -> None:
    store_result("requests", "2.32.3", Verdict.SAFE)
    store_result("requests", "99.0", Verdict.UNSAFE, (native_thread(),), owner=alice)
    store_result("internal-tool", "0.1", Verdict.UNSAFE, owner=alice)

    client = Client()
    client.force_login(alice)

    assert "safe" in texts(client.get("/badge/requests.svg").content)
    assert "unknown" in texts(client.get("/badge/internal-tool.svg").content)


def test_a_hostile_name_is_escaped() -> None:
    response = Client().get('/badge/"><script>alert(1)<x.svg')

    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    ET.fromstring(response.content)  # still well-formed XML


def test_the_package_page_offers_a_badge_that_links_to_it_at_the_public_address(settings) -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    settings.FORKAUDIT_PUBLIC_URL = "https://forkaudit.example.org"

    page = Client().get("/packages/numpy/").content.decode()

    snippet = (
        "[![fork-safety](https://forkaudit.example.org/badge/numpy.svg)](https://forkaudit.example.org/packages/numpy/)"
    )
    assert snippet in page
    assert "FORKAUDIT_PUBLIC_URL" not in page


def test_without_a_public_address_the_snippet_uses_the_requests_and_says_how_to_set_it(settings) -> None:
    store_result("numpy", "2.4.6", Verdict.SAFE)
    settings.FORKAUDIT_PUBLIC_URL = ""

    page = Client().get("/packages/numpy/", HTTP_HOST="localhost:8000").content.decode()

    assert "(http://localhost:8000/badge/numpy.svg)](http://localhost:8000/packages/numpy/)" in page
    assert "FORKAUDIT_PUBLIC_URL" in page
