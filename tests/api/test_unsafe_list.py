"""GET /api/v1/unsafe/: the fork-unsafe packages as JSON, as the web page lists them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from auditor import popularity
from auditor.core.findings import ThreadOnImport, Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ranking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "top-pypi-packages.tsv"
    path.write_text("rank\tname\n1\tgrpcio\n2\tnumpy\n")
    monkeypatch.setattr(popularity, "RANKING_FILE", path)


def flusher() -> ThreadOnImport:
    return ThreadOnImport(thread="flusher", native=False, alive_after_import=True, module="telemetry")


def test_lists_unsafe_packages_by_popularity_with_culprits_and_fix(anonymous: APIClient) -> None:
    openblas = ThreadOnImport(
        thread="python",
        native=True,
        alive_after_import=True,
        module="numpy._core._multiarray_umath",
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
        library="OpenBLAS",
        library_file="numpy.libs/libscipy_openblas64_.so",
    )
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (openblas,))
    store_result("fa-telemetry", "1.0", Verdict.UNSAFE, (flusher(),))
    store_result("grpcio", "1.70.0", Verdict.UNSAFE, (native_thread("grpc_global_tim"),))
    store_result("requests", "2.32.3", Verdict.SAFE)

    response = anonymous.get("/api/v1/unsafe/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [(row["name"], row["rank"]) for row in body["results"]] == [
        ("grpcio", 1),
        ("numpy", 2),
        ("fa-telemetry", None),
    ]
    numpy = body["results"][1]
    assert numpy["version"] == "2.4.6"
    assert numpy["verdict"] == "unsafe"
    assert numpy["fix"] == "OPENBLAS_NUM_THREADS=1"
    assert numpy["culprits"] == [
        {
            "kind": "native thread",
            "name": "python",
            "library": "OpenBLAS",
            "library_file": "numpy.libs/libscipy_openblas64_.so",
            "fix": "OPENBLAS_NUM_THREADS=1",
        }
    ]
    assert numpy["url"] == "http://testserver/api/v1/packages/numpy/2.4.6/"
    assert body["results"][2]["fix"] is None  # nothing verified: import it after the fork


def test_filters_by_verdict_and_kind(anonymous: APIClient) -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    store_result("fa-telemetry", "1.0", Verdict.UNSAFE, (flusher(),))
    warmup = ThreadOnImport(thread="warmup", native=False, alive_after_import=False, module="warm")
    store_result("warm", "1.0", Verdict.CAUTION, (warmup,))

    python = anonymous.get("/api/v1/unsafe/", {"kind": "python"}).json()
    caution = anonymous.get("/api/v1/unsafe/", {"verdict": "caution"}).json()

    assert [row["name"] for row in python["results"]] == ["fa-telemetry"]
    assert [row["name"] for row in caution["results"]] == ["warm"]


def test_private_results_are_not_listed(anonymous: APIClient, alice: User) -> None:
    store_result("secret-thing", "1.0", Verdict.UNSAFE, (flusher(),), owner=alice)

    assert anonymous.get("/api/v1/unsafe/").json()["count"] == 0


@pytest.mark.parametrize("query", [{"verdict": "safe"}, {"kind": "thread"}, {"page": "9"}])
def test_a_bad_filter_or_page_is_a_json_4xx(anonymous: APIClient, query: dict[str, str]) -> None:
    response = anonymous.get("/api/v1/unsafe/", query)

    assert response.status_code == (404 if "page" in query else 400)
    assert response.json()["code"] == ("not_found" if "page" in query else "invalid")
