from __future__ import annotations

from pathlib import Path

import pytest

from auditor.core.resolve import Resolution, _is_lock, parse_compiled

COMPILED = """\
certifi==2026.10.19.post1  # via requests
charset-normalizer==3.5.2  # via requests
numpy==2.4.6              # via pandas, -r requirements.txt
pandas==2.3.3
requests[socks]==2.34.2
urllib3==2.8.0            # via requests, botocore
"""


def test_parse_compiled_reads_pins_and_edges():
    pins, edges = parse_compiled(COMPILED)

    assert pins == {
        "certifi": "2026.10.19.post1",
        "charset-normalizer": "3.5.2",
        "numpy": "2.4.6",
        "pandas": "2.3.3",
        "requests": "2.34.2",
        "urllib3": "2.8.0",
    }
    assert edges == {
        ("requests", "certifi"),
        ("requests", "charset-normalizer"),
        ("pandas", "numpy"),
        ("requests", "urllib3"),
        ("botocore", "urllib3"),
    }


def test_paths_to_gives_the_shortest_path_from_each_direct_requirement():
    resolution = Resolution(
        pins={"app": "1", "lib": "1", "numpy": "1", "pandas": "1"},
        edges=frozenset({("app", "pandas"), ("pandas", "numpy"), ("app", "lib"), ("lib", "pandas")}),
        direct=frozenset({"app", "pandas"}),
    )

    assert resolution.paths_to("numpy") == [("pandas", "numpy"), ("app", "pandas", "numpy")]
    assert resolution.paths_to("app") == [("app",)]
    assert resolution.paths_to("unknown") == []


def test_resolution_round_trips_through_its_dict():
    resolution = Resolution(pins={"a": "1", "b": "2"}, edges=frozenset({("a", "b")}), direct=frozenset({"a"}))

    assert Resolution.from_dict(resolution.to_dict()) == resolution


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [
        (["six==1.17.0", "uvicorn[standard]==0.30.0", 'colorama==0.4.6 ; sys_platform == "win32"'], True),
        (["six===1.17.0"], True),
        (["six==1.17.0", "requests>=2"], False),
        (["six==1.*"], False),
        (["six"], False),
        (["six>=1,<2"], False),
        (["six==1.17.0", "--index-url https://example.invalid/simple"], False),
        (["pkg @ https://example.invalid/pkg-1.0-py3-none-any.whl"], False),
        ([], False),
    ],
)
def test_is_lock_accepts_only_exact_pins(requirements, lock):
    assert _is_lock(requirements) is lock


def test_find_links_keep_the_operators_directories_when_the_audit_adds_its_own(monkeypatch):
    from auditor.core.uv import find_links_args

    monkeypatch.setenv("UV_FIND_LINKS", "/srv/wheels,/srv/more")

    assert find_links_args([]) == []  # uv reads UV_FIND_LINKS itself
    assert find_links_args([Path("/work/built")]) == [
        "--find-links",
        "/work/built",
        "--find-links",
        "/srv/wheels",
        "--find-links",
        "/srv/more",
    ]
