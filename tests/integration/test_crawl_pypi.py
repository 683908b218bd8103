"""`forkaudit crawl` against PyPI, on the embedded default (SQLite, the file broker and the worker the command starts
itself), as a user runs it. Marked `network`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.network


def test_a_crawl_of_three_small_projects_from_pypi_stores_their_latest_versions(
    forkaudit: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "none")  # the crawl's results, not the reports, count
    projects = tmp_path / "projects.txt"
    projects.write_text("six\niniconfig\nsniffio\n")

    done = forkaudit("crawl", "--from", str(projects))
    exported = forkaudit("export")

    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "3 projects: 3 audited, 0 already known, 0 skipped" in done.stdout, done.stdout
    assert "3 distributions in their sets: 3 probed, 0 reused" in done.stdout
    lines = [json.loads(line) for line in exported.stdout.splitlines()[1:]]
    assert sorted(line["name"] for line in lines) == ["iniconfig", "six", "sniffio"]
    assert all(line["deep"] and line["verdict"] == "safe" for line in lines), lines
