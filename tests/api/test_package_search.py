"""GET /api/v1/packages/: public search, paginated; a user's own uploaded wheels' results beside the public ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from auditor.core.findings import Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], APIClient]
URL = "/api/v1/packages/"
pytestmark = pytest.mark.django_db


def names(response) -> list[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    return [(r["name"], r["version"], r["private"]) for r in response.json()["results"]]


def test_search_needs_no_token_and_describes_each_result(anonymous: APIClient) -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))

    response = anonymous.get(URL, {"q": "numpy"})

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    [result] = body["results"]
    assert result == {
        "name": "numpy",
        "version": "2.4.6",
        "verdict": "unsafe",
        "fork_aware": False,
        "python": "3.11.7",
        "platform": "linux-x86_64",
        "probed": result["probed"],
        "private": False,
        "url": "http://testserver/api/v1/packages/numpy/2.4.6/",
    }
    assert result["probed"].endswith("Z")


def test_search_is_paginated_by_fifty(anonymous: APIClient) -> None:
    for n in range(55):
        store_result("demo", f"1.{n}")

    first = anonymous.get(URL).json()
    second = anonymous.get(first["next"]).json()

    assert (first["count"], len(first["results"]), first["previous"]) == (55, 50, None)
    assert first["next"] == "http://testserver/api/v1/packages/?page=2"
    assert (len(second["results"]), second["next"]) == (5, None)


def test_page_past_the_end_is_404(anonymous: APIClient) -> None:
    store_result("demo")

    response = anonymous.get(URL, {"page": 3})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_search_filters_by_name_verdict_and_thread(anonymous: APIClient) -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread("python"),))
    store_result("pyarrow", "18.0", Verdict.UNSAFE, (native_thread("jemalloc_bg_thd", "pyarrow.lib"),))
    store_result("requests", "2.32.3")

    assert names(anonymous.get(URL, {"q": "NumPy"})) == [("numpy", "2.4.6", False)]
    assert names(anonymous.get(URL, {"verdict": "unsafe"})) == [("numpy", "2.4.6", False), ("pyarrow", "18.0", False)]
    assert names(anonymous.get(URL, {"thread": "JEMALLOC"})) == [("pyarrow", "18.0", False)]
    assert len(names(anonymous.get(URL, {"q": "", "verdict": "", "thread": ""}))) == 3


def test_unknown_verdict_is_400(anonymous: APIClient) -> None:
    response = anonymous.get(URL, {"verdict": "dangerous"})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("verdict:")


def test_overlong_query_is_400(anonymous: APIClient) -> None:
    assert anonymous.get(URL, {"q": "x" * 201}).status_code == 400


def test_private_wheel_result_is_visible_only_to_its_owner(
    alice: User, bob: User, anonymous: APIClient, client_for: ClientFor
) -> None:
    store_result("inhouse-lib", "0.1", Verdict.CAUTION, owner=alice)

    assert names(client_for(alice).get(URL, {"q": "inhouse"})) == [("inhouse-lib", "0.1", True)]
    assert names(client_for(bob).get(URL, {"q": "inhouse"})) == []
    assert names(anonymous.get(URL, {"q": "inhouse"})) == []
    assert anonymous.get(URL).json()["count"] == 0


def test_private_wheel_result_does_not_shadow_the_public_record_of_the_same_name(
    alice: User, bob: User, client_for: ClientFor
) -> None:
    public = store_result("requests", "2.32.3", Verdict.SAFE)
    private = store_result("requests", "2.32.3", Verdict.UNSAFE, (native_thread("evil"),), owner=alice)

    alice_results = client_for(alice).get(URL, {"q": "requests"}).json()["results"]
    bob_results = client_for(bob).get(URL, {"q": "requests"}).json()["results"]

    assert [(r["verdict"], r["private"]) for r in alice_results] == [("safe", False), ("unsafe", True)]
    assert [(r["verdict"], r["private"]) for r in bob_results] == [("safe", False)]
    public.refresh_from_db()
    assert (public.verdict, public.owner, private.owner) == ("safe", None, alice)


def test_post_is_405(alice: User, client_for: ClientFor) -> None:
    response = client_for(alice).post(URL, {"q": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
