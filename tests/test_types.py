"""The domain core type-checks: mypy, configured in pyproject.toml ([tool.mypy]: auditor.core), reports nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error_in_the_core(tmp_path: Path) -> None:
    # A cache of its own: no state from an earlier run (or another checkout) can hide an error.
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    files = re.search(r"no issues found in (\d+) source files", checked.stdout)
    assert files and int(files[1]) > 0, checked.stdout  # it did check the core
