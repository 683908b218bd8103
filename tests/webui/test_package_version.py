"""/packages/<name>/<version>/ : verdict, fork awareness, findings, modules, and where and when it was probed."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from auditor.core.findings import AtforkHandler, Verdict
from tests.api.builders import store_result
from tests.probe_results import native_thread

ClientFor = Callable[[User], Client]
pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_shows_verdict_findings_modules_and_environment() -> None:
    record = store_result(
        "numpy", "2.4.6", Verdict.UNSAFE, (native_thread(), AtforkHandler(module="numpy")), fork_aware=True
    )

    response = Client().get("/packages/numpy/2.4.6/")

    assert response.status_code == 200
    html = response.content.decode()
    text = text_of(html)
    assert '<span class="verdict verdict-unsafe">unsafe</span>' in html
    assert "fork-aware" in text
    assert "native thread <code>python</code> alive after import" in html
    assert 'registers at-fork handlers (module <span class="name"><span class="seg">numpy</span></span>)' in html
    assert "numpy ok 90 ms" in text
    assert f"Probed {record.created:%Y-%m-%d %H:%M} UTC" in text
    assert "Python 3.11.7 · linux-x86_64" in text
    assert "Sandbox bwrap" in text
    assert "cp311-cp311-manylinux_2_17_x86_64" in text
    assert "every public submodule" in text


def test_every_visible_result_is_shown_public_first(client_for: ClientFor, alice: User) -> None:
    store_result("numpy", "2.4.6", Verdict.SAFE, python="3.12.1")
    store_result("numpy", "2.4.6", Verdict.UNSAFE, (native_thread(),), python="3.11.7")
    store_result("numpy", "2.4.6", Verdict.CAUTION, owner=alice)

    public = text_of(Client().get("/packages/numpy/2.4.6/").content.decode())
    own = text_of(client_for(alice).get("/packages/numpy/2.4.6/").content.decode())

    assert "Python 3.11.7" in public and "Python 3.12.1" in public
    assert "caution" not in public and "private" not in public
    assert "caution" in own and own.index("private") > own.index("Python 3.12.1")


def test_a_private_version_is_404_for_others(client_for: ClientFor, alice: User, bob: User) -> None:
    store_result("internal-tool", "0.1", owner=alice)

    assert Client().get("/packages/internal-tool/0.1/").status_code == 404
    assert client_for(bob).get("/packages/internal-tool/0.1/").status_code == 404
    assert client_for(alice).get("/packages/internal-tool/0.1/").status_code == 200


def test_a_non_normalized_version_finds_the_normalized_one() -> None:
    store_result("numpy", "2.4")

    assert Client().get("/packages/numpy/2.04/").status_code == 200


@pytest.mark.parametrize("path", ["numpy/9.9/", "nosuch/1.0/", "-bad-/1.0/", "numpy/%00/", "numpy/" + "1" * 200 + "/"])
def test_unknown_or_malformed_version_is_404(path: str) -> None:
    store_result("numpy", "2.4.6")

    assert Client().get(f"/packages/{path}").status_code == 404


def test_hostile_thread_name_is_escaped() -> None:
    store_result("evil", "1.0", Verdict.UNSAFE, (native_thread(thread="<script>alert(1)</script>", module="<b>m"),))

    html = Client().get("/packages/evil/1.0/").content.decode()

    assert "<script>alert(1)" not in html and "<b>m" not in html
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in html
