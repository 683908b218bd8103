"""GET /api/v1/packages/{name}/{version}/: a version's verdict, fork awareness, modules and findings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from auditor.core.findings import AtforkHandler, Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], APIClient]
pytestmark = pytest.mark.django_db


def test_version_has_its_verdict_modules_and_findings(anonymous: APIClient) -> None:
    atfork = AtforkHandler(module="numpy", hooks=("after_in_child",))
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(), atfork), fork_aware=True)

    response = anonymous.get("/api/v1/packages/numpy/2.4.6/")

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"], body["verdict"], body["fork_aware"]) == ("numpy", "2.4.6", "unsafe", True)
    assert body["modules"] == [{"name": "numpy", "status": "ok", "import_seconds": 0.09, "top_level": True}]
    assert body["findings"] == [native_thread().to_dict(), atfork.to_dict()]
    [result] = body["results"]
    assert result["python"] == "3.11.7"
    assert (result["private"], result["deep"], result["sandbox"], result["error"]) == (False, True, "bwrap", None)
    assert result["findings"] == body["findings"]


def test_name_and_version_are_looked_up_normalized(anonymous: APIClient) -> None:
    store_result("foo-bar", "2.4.0")

    response = anonymous.get("/api/v1/packages/Foo_Bar/2.04.0/")

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["version"]) == ("foo-bar", "2.4.0")


@pytest.mark.parametrize("path", ["numpy/9.9/", "nothing-here/1.0/", "numpy/%00/", "-x-/2.4.6/"])
def test_unknown_version_or_package_is_404(anonymous: APIClient, path: str) -> None:
    store_result("numpy", "2.4.6")

    response = anonymous.get(f"/api/v1/packages/{path}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Package version not found.", "code": "not_found"}


def test_public_result_comes_first_even_for_the_owner_of_a_private_one(
    alice: User, bob: User, client_for: ClientFor
) -> None:
    store_result("requests", "2.32.3", Verdict.SAFE)
    store_result("requests", "2.32.3", Verdict.UNSAFE, (native_thread("evil"),), owner=alice)

    mine = client_for(alice).get("/api/v1/packages/requests/2.32.3/").json()
    his = client_for(bob).get("/api/v1/packages/requests/2.32.3/").json()

    assert (mine["verdict"], mine["findings"]) == ("safe", [])
    assert [(r["verdict"], r["private"]) for r in mine["results"]] == [("safe", False), ("unsafe", True)]
    assert [(r["verdict"], r["private"]) for r in his["results"]] == [("safe", False)]


def test_private_only_version_is_404_for_everyone_else(
    alice: User, bob: User, anonymous: APIClient, client_for: ClientFor
) -> None:
    store_result("inhouse-lib", "0.1", Verdict.CAUTION, owner=alice)

    assert client_for(alice).get("/api/v1/packages/inhouse-lib/0.1/").json()["verdict"] == "caution"
    assert client_for(bob).get("/api/v1/packages/inhouse-lib/0.1/").status_code == 404
    assert anonymous.get("/api/v1/packages/inhouse-lib/0.1/").status_code == 404


def test_put_is_405(alice: User, client_for: ClientFor) -> None:
    store_result("numpy", "2.4.6")

    assert client_for(alice).put("/api/v1/packages/numpy/2.4.6/", {}, format="json").status_code == 405
