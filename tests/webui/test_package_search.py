"""/packages/?q=&verdict= : search of public results (and the viewer's own private ones), paginated."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from auditor.core.findings import Verdict
from auditor.models import ProbeRecord
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], Client]
URL = "/packages/"
pytestmark = pytest.mark.django_db


def listed(html: str) -> list[str]:
    """The `name version` of each result row."""
    row = r'<th scope="row"><a href="/packages/([^/]+)/">.*?<a href="/packages/[^/]+/([^/]+)/">'
    rows = re.findall(row, html, re.S)
    return [f"{name} {version}" for name, version in rows]


def test_search_needs_no_login_and_shows_each_result() -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    store_result("requests", "2.32.3", Verdict.SAFE, fork_aware=True)

    response = Client().get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert listed(html) == ["numpy 2.4.6", "requests 2.32.3"]
    assert '<span class="verdict verdict-unsafe">unsafe</span>' in html
    assert "fork-aware" in html
    assert "3.11.7" in html and "linux-x86_64" in html
    assert 'aria-current="page">Packages</a>' in html


def test_query_matches_part_of_the_name() -> None:
    store_result("numpy", "2.4.6")
    store_result("pandas", "2.2.3")

    html = Client().get(URL, {"q": "NumP"}).content.decode()

    assert listed(html) == ["numpy 2.4.6"]
    assert 'value="NumP"' in html


def test_verdict_filter() -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    store_result("pandas", "2.2.3", Verdict.SAFE)

    html = Client().get(URL, {"verdict": "unsafe"}).content.decode()

    assert listed(html) == ["numpy 2.4.6"]
    assert '<option value="unsafe" selected>' in html


def test_nothing_found_says_so() -> None:
    store_result("numpy")

    html = Client().get(URL, {"q": "nosuchthing"}).content.decode()

    assert "No package matches this search." in html


def test_private_wheel_results_are_shown_to_their_owner_only(client_for: ClientFor, alice: User, bob: User) -> None:
    store_result("numpy", "2.4.6")
    store_result("internal-tool", "0.1", Verdict.UNSAFE, (native_thread(),), owner=alice)

    anonymous = Client().get(URL).content.decode()
    other = client_for(bob).get(URL).content.decode()
    owner = client_for(alice).get(URL).content.decode()

    for html in (anonymous, other):
        assert listed(html) == ["numpy 2.4.6"]
        assert "internal-tool" not in html
    assert listed(owner) == ["internal-tool 0.1", "numpy 2.4.6"]
    assert ">private</span>" in owner


def test_an_unknown_verdict_is_a_400_page_not_an_error() -> None:
    response = Client().get(URL, {"verdict": "<script>"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert "<script>" not in html


def test_results_are_paginated_by_fifty() -> None:
    for n in range(55):
        store_result("demo", f"1.{n}")

    first = Client().get(URL).content.decode()
    second = Client().get(URL, {"page": "2"}).content.decode()

    assert len(listed(first)) == 50 and len(listed(second)) == 5
    assert 'href="?page=2" rel="next"' in first
    assert 'href="?page=1" rel="prev"' in second
    assert "55 results · page 1 of 2" in first


def test_pagination_keeps_the_filters() -> None:
    for n in range(55):
        store_result("demo", f"1.{n}")

    html = Client().get(URL, {"q": "demo", "verdict": "safe"}).content.decode()

    assert 'href="?q=demo&amp;verdict=safe&amp;page=2"' in html


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999", "1e9"])
def test_a_bad_page_number_shows_a_page_not_an_error(page: str) -> None:
    store_result("numpy")

    response = Client().get(URL, {"page": page})

    assert response.status_code == 200
    assert listed(response.content.decode()) == ["numpy 1.0"]


def test_the_count_of_every_result_follows_a_deletion() -> None:
    for n in range(55):
        store_result("demo", f"1.{n}")
    assert "55 results · page 1 of 2" in Client().get(URL).content.decode()

    ProbeRecord.objects.filter(version__in=["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]).delete()

    html = Client().get(URL).content.decode()
    assert "49 results" in html and "page 1 of 2" not in html


@pytest.mark.parametrize(
    ("query", "shown"),
    [({}, "2 results"), ({"q": "demo"}, "1 result<"), ({"q": "demmo"}, 'Did you mean <a href="/packages/demo/">')],
)
def test_a_search_asks_the_results_version_once_and_counts_no_results(query: dict[str, str], shown: str) -> None:
    store_result("demo")
    store_result("numpy")
    client = Client()
    client.get(URL, query)  # the names read

    with CaptureQueriesContext(connection) as queries:
        html = client.get(URL, query).content.decode()

    statements = [captured["sql"] for captured in queries.captured_queries]
    assert sum("auditor_resultsversion" in sql for sql in statements) == 1
    assert not [sql for sql in statements if "COUNT(" in sql.upper()]
    assert shown in html
