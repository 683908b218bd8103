"""What `pip install forkaudit` puts into site-packages: only the product's own top-level packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# Local state that a checkout may hold and a build never reads.
NOT_SOURCES = (".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".hypothesis", "*.sqlite3")


def build_wheel(tmp_path: Path) -> Path:
    """Build the checkout's wheel offline (uv's cache has the build backend since `scripts/setup`), from a copy:
    setuptools writes build/ and egg-info beside the sources, and the checkout is shared."""
    source = tmp_path / "source"
    shutil.copytree(PROJECT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--offline", "--out-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = out.glob("*.whl")
    return wheel


def test_the_wheel_installs_only_the_products_own_top_level_packages(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = wheel.namelist()

    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    # `auditor` (the service, the CLI and the Django project in auditor/project/) and `webui`; nothing with a
    # name as common as `config`, `tests` or `bench` that would shadow or be shadowed by a user's own package.
    assert top_level == {"auditor", "webui"}
    assert "auditor/project/settings.py" in names
    assert any(name.startswith("webui/templates/") for name in names)
    assert "auditor/core/probe/catalogue.toml" in names  # the knobs and libraries the probe reads
