"""Browsing the knowledge base: /unsafe/ (the fork-unsafe packages, most downloaded first), the home page's numbers,
a package page's one-line verdict and the packages that pull it in, an unknown package, and typo suggestions."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor import popularity
from auditor.core.findings import (
    ImportFailure,
    ProcessOnImport,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
)
from auditor.models import Audit
from auditor.services import audit_create, audit_graph_store
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db


def openblas_thread() -> ThreadOnImport:
    return ThreadOnImport(
        thread="python",
        native=True,
        alive_after_import=True,
        module="numpy._core._multiarray_umath",
        mitigation={"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
        library="OpenBLAS",
        library_file="numpy.libs/libscipy_openblas64_-56d6093b.so",
    )


def flusher_thread() -> ThreadOnImport:
    return ThreadOnImport(thread="flusher", native=False, alive_after_import=True, module="telemetry", daemon=True)


@pytest.fixture(autouse=True)
def no_ranking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ranking file unless a test writes one: the order then is by name."""
    monkeypatch.setattr(popularity, "RANKING_FILE", tmp_path / "no-ranking.tsv")


@pytest.fixture
def ranking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point the popularity ranking at a file of the test's own: `ranking("numpy", "grpcio")` ranks them 1, 2."""

    def write(*names: str) -> None:
        path = tmp_path / "top-pypi-packages.tsv"
        path.write_text("rank\tname\n" + "".join(f"{rank}\t{name}\n" for rank, name in enumerate(names, 1)))
        monkeypatch.setattr(popularity, "RANKING_FILE", path)

    return write


def listed(html: str) -> list[str]:
    """The package names of the list's rows, in order."""
    return re.findall(r'<th scope="row" data-label="Package"><a href="/packages/([^/]+)/">', html)


# --- /unsafe/ ------------------------------------------------------------------------------------------------------


def test_the_unsafe_list_shows_the_thread_its_library_and_the_verified_fix(ranking: Callable[..., None]) -> None:
    ranking("numpy")
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (openblas_thread(),))
    store_result("requests", "2.32.3", Verdict.SAFE)

    response = Client().get("/unsafe/")

    assert response.status_code == 200
    html = response.content.decode()
    assert listed(html) == ["numpy"]
    row = html[html.index('data-label="Package"') :]
    assert '<a class="version" href="/packages/numpy/2.4.6/">2.4.6</a>' in row
    assert "native thread <code>python</code>" in row
    assert "OpenBLAS" in row and "numpy.libs/libscipy_openblas64_-56d6093b.so" in row
    assert '<code class="fix">OPENBLAS_NUM_THREADS=1</code> <span class="muted">(verified)</span>' in row
    assert '<td class="rank" data-label="Rank">1</td>' in html


def test_a_thread_without_a_verified_fix_is_imported_after_the_fork() -> None:
    store_result("fa-telemetry", "1.0", Verdict.UNSAFE, (flusher_thread(),))

    html = Client().get("/unsafe/").content.decode()

    assert "Python thread <code>flusher</code>" in html
    assert "import after the fork" in html
    assert "(verified)" not in html


def test_the_list_is_ordered_by_popularity_then_by_name(ranking: Callable[..., None]) -> None:
    ranking("grpcio", "numpy")
    for name in ("zz-unranked", "aa-unranked", "numpy", "grpcio"):
        store_result(name, "1.0", Verdict.UNSAFE, (native_thread(),))

    html = Client().get("/unsafe/").content.decode()

    assert listed(html) == ["grpcio", "numpy", "aa-unranked", "zz-unranked"]


def test_without_a_ranking_file_the_list_is_ordered_by_name() -> None:
    for name in ("numpy", "grpcio", "torch"):
        store_result(name, "1.0", Verdict.UNSAFE, (native_thread(),))

    html = Client().get("/unsafe/").content.decode()

    assert listed(html) == ["grpcio", "numpy", "torch"]


def test_a_package_whose_newest_version_is_safe_is_not_listed() -> None:
    store_result("fixed", "1.0", Verdict.UNSAFE, (flusher_thread(),))
    store_result("fixed", "1.10", Verdict.SAFE)  # newer than 1.9 by version, not by text
    store_result("broken", "1.10", Verdict.UNSAFE, (flusher_thread(),))
    store_result("broken", "1.9", Verdict.SAFE)

    html = Client().get("/unsafe/").content.decode()

    assert listed(html) == ["broken"]


def test_private_results_are_never_listed(alice: User, client_for: ClientFor) -> None:
    store_result("secret-thing", "1.0", Verdict.UNSAFE, (flusher_thread(),), owner=alice)
    # A private result of a public package's name does not shadow its public verdict either.
    store_result("numpy", "2.4.6", Verdict.SAFE)
    store_result("numpy", "9.0", Verdict.UNSAFE, (native_thread(),), owner=alice)

    html = client_for(alice).get("/unsafe/").content.decode()

    assert listed(html) == []
    assert "No public package" in html


def test_the_verdict_filter_lists_caution_and_error_packages() -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    short_lived = ThreadOnImport(thread="warmup", native=False, alive_after_import=False, module="warm")
    store_result("warm", "1.0", Verdict.CAUTION, (short_lived,))
    crash = ImportFailure(module="crashy", reason="crash", message="killed by SIGSEGV")
    store_result("crashy", "1.0", Verdict.ERROR, (crash,))

    caution = Client().get("/unsafe/?verdict=caution").content.decode()
    error = Client().get("/unsafe/?verdict=error").content.decode()

    assert listed(caution) == ["warm"]
    assert "Python thread <code>warmup</code>" in caution
    assert listed(error) == ["crashy"]
    assert "killed by SIGSEGV" in error


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("native", ["numpy"]), ("python", ["fa-telemetry"]), ("process", ["spawner"]), ("socket", []), ("", None)],
)
def test_the_kind_filter_keeps_packages_with_that_kind_of_finding(kind: str, expected: list[str] | None) -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    store_result("fa-telemetry", "1.0", Verdict.UNSAFE, (flusher_thread(),))
    helper = ProcessOnImport(command="helperd --serve", alive_after_import=True, module="spawner")
    store_result("spawner", "1.0", Verdict.UNSAFE, (helper,))

    html = Client().get(f"/unsafe/?kind={kind}").content.decode()

    assert listed(html) == (expected if expected is not None else ["fa-telemetry", "numpy", "spawner"])


def test_a_socket_left_open_is_found_under_caution() -> None:
    socket = SocketOnImport(family="AF_INET", open_after_import=True, module="chatty", address="10.0.0.1:80")
    store_result("chatty", "1.0", Verdict.CAUTION, (socket,))

    html = Client().get("/unsafe/?verdict=caution&kind=socket").content.decode()

    assert listed(html) == ["chatty"]


@pytest.mark.parametrize("query", ["verdict=safe", "verdict=nonsense", "kind=thread", "kind=%3Cscript%3E"])
def test_a_bad_filter_is_400_with_the_form(query: str) -> None:
    response = Client().get(f"/unsafe/?{query}")

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_list_is_paginated() -> None:
    for index in range(51):
        store_result(f"pkg-{index:02d}", "1.0", Verdict.UNSAFE, (flusher_thread(),))

    first = Client().get("/unsafe/").content.decode()
    second = Client().get("/unsafe/?page=2").content.decode()

    assert len(listed(first)) == 50
    assert listed(second) == ["pkg-50"]
    assert "51 packages whose newest version is unsafe" in first


# --- the home page -------------------------------------------------------------------------------------------------


def test_the_home_page_shows_the_datasets_numbers_and_links_to_the_list(launched: Client) -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),), python="3.12.1")  # the same version
    store_result("numpy", "1.26.4", Verdict.SAFE)
    store_result("requests", "2.32.3", Verdict.SAFE)
    store_result("fixed", "1.0", Verdict.UNSAFE, (flusher_thread(),))
    store_result("fixed", "2.0", Verdict.SAFE)

    html = launched.get("/").content.decode()

    numbers = re.sub(
        r"\s+", " ", html[html.index("data-dataset-numbers") : html.index("</p>", html.index("data-dataset-numbers"))]
    )
    assert "<strong>3</strong> packages probed (5 versions)" in numbers
    assert '<a href="/unsafe/"><strong>1</strong> is fork-unsafe</a> in its newest version' in numbers


def test_an_empty_database_shows_no_numbers(launched: Client) -> None:
    html = launched.get("/").content.decode()

    assert "data-dataset-numbers" not in html


# --- package pages -------------------------------------------------------------------------------------------------


def requirements_audit(edges: list[tuple[str, str]], *, origins: dict[str, str] | None = None) -> Audit:
    """An audit whose resolution holds `edges` (requirer, required); `origins` names its private distributions."""
    audit = audit_create(owner=None, input_kind="requirements", input_text="x\n", options={"origins": origins or {}})
    names = {name for edge in edges for name in edge}
    graph = {"direct": [edges[0][0]], "edges": [list(edge) for edge in edges], "pins": dict.fromkeys(names, "1.0")}
    audit_graph_store(audit_id=audit.pk, graph=graph)
    return audit


def test_the_package_page_says_why_and_what_to_do_in_one_line() -> None:
    store_result("numpy", "1.26.4", Verdict.SAFE)
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (openblas_thread(),))

    html = Client().get("/packages/numpy/").content.decode()

    line = re.sub(
        r"\s+", " ", html[html.index("data-verdict-line") : html.index("</p>", html.index("data-verdict-line"))]
    )
    assert '<a href="/packages/numpy/2.4.6/">numpy 2.4.6</a>' in line
    assert "leaves a native thread running (<code>python</code>, OpenBLAS) after import." in line
    assert "<strong>What to do:</strong> set OPENBLAS_NUM_THREADS=1 before the import (verified)." in line
    assert html.index(">2.4.6<") < html.index(">1.26.4<")  # every version, newest first, with its verdict
    assert html.count("verdict-safe") == 1


def test_an_unfixed_thread_says_to_import_after_the_fork() -> None:
    store_result("fa-telemetry", "1.0", Verdict.UNSAFE, (flusher_thread(),))

    html = Client().get("/packages/fa-telemetry/").content.decode()

    assert "leaves a Python thread running (<code>flusher</code>) after import" in html
    assert "<strong>What to do:</strong> import it after the fork (gunicorn post_fork" in html


def test_a_safe_package_says_so() -> None:
    store_result("requests", "2.32.3", Verdict.SAFE)

    html = Client().get("/packages/requests/").content.decode()

    assert "starts no thread, process or socket that outlives its import" in html
    assert "<strong>What to do:</strong> nothing" in html


def test_the_package_page_names_the_public_packages_that_pull_it_in(alice: User) -> None:
    for name in ("numpy", "pandas", "scipy", "acme-internal", "uploaded-app"):
        store_result(name, "1.0", Verdict.UNSAFE if name == "numpy" else Verdict.SAFE)
    requirements_audit([("pandas", "numpy"), ("scipy", "numpy"), ("pandas", "python-dateutil")])
    # A requirer without a public result of its own (a private project) is never named.
    requirements_audit([("never-probed", "numpy")])
    # A wheel audit: the uploaded app requires numpy; its result is private to its uploader.
    requirements_audit([("uploaded-app", "numpy")], origins={"uploaded-app": "upload:1:abc"})
    # In another audit numpy itself came from an uploaded wheel: nothing of that audit's numpy is public.
    requirements_audit([("acme-internal", "numpy")], origins={"numpy": "upload:1:def"})

    html = Client().get("/packages/numpy/").content.decode()

    section = html[html.index('id="pulled-in-heading"') :]
    assert re.findall(r'<li><a href="/packages/([^/]+)/">', section) == ["pandas", "scipy"]


def test_a_package_nothing_pulls_in_says_so() -> None:
    store_result("pandas", "1.0")

    html = Client().get("/packages/pandas/").content.decode()

    assert "No audited dependency set shows a public package that requires pandas." in html


def test_an_unknown_package_offers_to_audit_it_now() -> None:
    store_result("numpy", "2.4.6")

    response = Client().get("/packages/nunpy/")

    assert response.status_code == 404
    html = response.content.decode()
    assert '<a class="button" href="/?requirements=nunpy">Audit it now</a>' in html
    assert 'Did you mean <a href="/packages/numpy/">numpy</a>?' in html


def test_audit_it_now_fills_the_form_in(launched: Client) -> None:
    html = launched.get("/?requirements=nunpy").content.decode()

    assert re.search(r'<textarea name="requirements"[^>]*>\s*nunpy</textarea>', html)


# --- search --------------------------------------------------------------------------------------------------------


def test_a_search_with_a_typo_suggests_the_nearest_names() -> None:
    for name in ("numpy", "numba", "pandas"):
        store_result(name)

    html = Client().get("/packages/?q=nunpy").content.decode()

    assert "No package matches this search." in html
    suggestions = html[html.index('class="suggestions"') :]
    assert re.findall(r'<a href="/packages/([^/]+)/">', suggestions.split("</p>")[0]) == ["numpy"]
    assert '<a href="/?requirements=nunpy">Audit nunpy now</a>' in html


def test_suggestions_never_name_another_users_private_package(alice: User, bob: User, client_for: ClientFor) -> None:
    store_result("acme-secret", owner=alice)

    as_bob = client_for(bob).get("/packages/?q=acme-secrte").content.decode()
    as_alice = client_for(alice).get("/packages/?q=acme-secrte").content.decode()

    assert "acme-secret" not in as_bob
    assert '<a href="/packages/acme-secret/">acme-secret</a>' in as_alice


def test_a_search_that_finds_something_suggests_nothing() -> None:
    store_result("numpy")

    html = Client().get("/packages/?q=numpy").content.decode()

    assert 'class="suggestions"' not in html


def test_a_search_finds_a_package_stored_after_the_previous_search() -> None:
    store_result("numpy")
    assert "/packages/numpy/" in Client().get("/packages/?q=py").content.decode()

    store_result("pyarrow")

    html = Client().get("/packages/?q=py").content.decode()
    assert "/packages/pyarrow/" in html
    assert "2 results" in html


def test_the_list_follows_a_result_probed_again() -> None:
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),))
    assert listed(Client().get("/unsafe/").content.decode()) == ["numpy"]

    store_result("numpy", "2.4.6", Verdict.SAFE)  # the same key: the stored result is replaced

    assert listed(Client().get("/unsafe/").content.decode()) == []
