"""/packages/<name>/ : every version of a package with its verdict, newest first."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor.core.findings import Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db


def versions(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/packages/[^/]+/([^/]+)/">', html)


def test_lists_versions_newest_first_with_verdicts() -> None:
    store_result("numpy", "1.26.4", Verdict.SAFE)
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    store_result("numpy", "2.10.0", Verdict.CAUTION)

    response = Client().get("/packages/numpy/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>numpy</h1>" in html
    assert versions(html) == ["2.10.0", "2.4.6", "1.26.4"]
    assert html.index("verdict-caution") < html.index("verdict-unsafe") < html.index("verdict-safe")
    assert '<img src="/badge/numpy.svg"' in html


def test_one_row_per_version(django_user_model: type[User]) -> None:
    store_result("numpy", "2.4.6", python="3.11.7")
    store_result("numpy", "2.4.6", python="3.12.1")

    html = Client().get("/packages/numpy/").content.decode()

    assert versions(html) == ["2.4.6"]


def test_another_spelling_redirects_to_the_canonical_name() -> None:
    store_result("typing-extensions", "4.12.2")

    response = Client().get("/packages/Typing_Extensions/")

    assert response.status_code == 301
    assert response["Location"] == "/packages/typing-extensions/"


@pytest.mark.parametrize("name", ["nosuchpackage", "-bad-", "a b", "%3Cscript%3E", "x" * 300])
def test_unknown_or_malformed_name_is_404(name: str) -> None:
    store_result("numpy")

    assert Client().get(f"/packages/{name}/").status_code == 404


def test_a_private_wheel_result_is_absent_from_the_public_page(client_for: ClientFor, alice: User, bob: User) -> None:
    store_result("requests", "2.32.3", Verdict.SAFE)
    store_result("requests", "99.0", Verdict.UNSAFE, (native_thread(),), owner=alice)
    store_result("internal-tool", "0.1", owner=alice)

    public = Client().get("/packages/requests/").content.decode()

    assert versions(public) == ["2.32.3"]
    assert "99.0" not in public
    assert versions(client_for(bob).get("/packages/requests/").content.decode()) == ["2.32.3"]
    assert versions(client_for(alice).get("/packages/requests/").content.decode()) == ["99.0", "2.32.3"]
    assert Client().get("/packages/internal-tool/").status_code == 404
    assert client_for(bob).get("/packages/internal-tool/").status_code == 404
    assert client_for(alice).get("/packages/internal-tool/").status_code == 200
