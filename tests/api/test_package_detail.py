"""GET /api/v1/packages/{name}/: every version of a package, newest first, with the verdict of each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from auditor.core.findings import Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], APIClient]
pytestmark = pytest.mark.django_db


def versions(response) -> list[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    return [(v["version"], v["verdict"], v["private"]) for v in response.json()["versions"]]


def test_lists_versions_newest_first_with_a_verdict_each(anonymous: APIClient) -> None:
    store_result("numpy", "1.26.4", Verdict.UNSAFE, (native_thread(),))
    store_result("numpy", "2.10.0", Verdict.UNSAFE, (native_thread(),))
    store_result("numpy", "2.9.1", Verdict.SAFE)

    response = anonymous.get("/api/v1/packages/numpy/")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "numpy"
    assert versions(response) == [("2.10.0", "unsafe", False), ("2.9.1", "safe", False), ("1.26.4", "unsafe", False)]
    assert body["versions"][0]["url"] == "http://testserver/api/v1/packages/numpy/2.10.0/"


def test_one_entry_per_version_even_with_results_for_several_pythons(anonymous: APIClient) -> None:
    store_result("numpy", "2.4.6", Verdict.SAFE, python="3.12.1")
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),), python="3.11.7")

    assert versions(anonymous.get("/api/v1/packages/numpy/")) == [("2.4.6", "unsafe", False)]


@pytest.mark.parametrize("spelling", ["Foo_Bar", "foo.bar", "FOO-BAR"])
def test_name_is_looked_up_canonicalized(anonymous: APIClient, spelling: str) -> None:
    store_result("foo-bar", "1.0")

    response = anonymous.get(f"/api/v1/packages/{spelling}/")

    assert response.status_code == 200
    assert response.json()["name"] == "foo-bar"


@pytest.mark.parametrize("name", ["nothing-here", "-bad-", "a%20b", "%00"])
def test_unknown_or_invalid_name_is_404(anonymous: APIClient, name: str) -> None:
    response = anonymous.get(f"/api/v1/packages/{name}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Package not found.", "code": "not_found"}


def test_package_known_only_from_a_private_wheel_is_visible_to_its_owner_only(
    alice: User, bob: User, anonymous: APIClient, client_for: ClientFor
) -> None:
    store_result("inhouse-lib", "0.1", Verdict.CAUTION, owner=alice)

    assert versions(client_for(alice).get("/api/v1/packages/inhouse-lib/")) == [("0.1", "caution", True)]
    assert client_for(bob).get("/api/v1/packages/inhouse-lib/").status_code == 404
    assert anonymous.get("/api/v1/packages/inhouse-lib/").status_code == 404


def test_private_result_does_not_replace_the_public_verdict_of_a_version(
    alice: User, bob: User, client_for: ClientFor
) -> None:
    store_result("requests", "2.32.3", Verdict.SAFE)
    store_result("requests", "2.32.3", Verdict.UNSAFE, (native_thread("evil"),), owner=alice)
    store_result("requests", "2.33.0", Verdict.CAUTION, owner=alice)

    assert versions(client_for(alice).get("/api/v1/packages/requests/")) == [
        ("2.33.0", "caution", True),
        ("2.32.3", "safe", False),
    ]
    assert versions(client_for(bob).get("/api/v1/packages/requests/")) == [("2.32.3", "safe", False)]
