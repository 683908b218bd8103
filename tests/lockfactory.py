"""Real lock files, made by uv itself, offline, from a directory of test wheels (tests/wheelfactory.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from auditor.core.uv import uv_binary, uv_environment


def uv_lock(project: Path, wheels: Path, *, dependencies: Sequence[str], dev: Sequence[str] = ()) -> Path:
    """`uv lock` of a virtual project (the user's own code, not a package) that requires `dependencies`, with a `dev`
    dependency group; its uv.lock."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(
        "[project]\n"
        'name = "fa-project"\n'
        'version = "0.1.0"\n'
        f'requires-python = ">={sys.version_info.major}.{sys.version_info.minor}"\n'
        f"dependencies = {list(dependencies)!r}\n"
        "[dependency-groups]\n"
        f"dev = {list(dev)!r}\n"
        "[tool.uv]\n"
        "package = false\n"
    )
    command = [uv_binary(), "lock", "--offline", "--no-index", "--find-links", str(wheels), "--python", sys.executable]
    subprocess.run(command, cwd=project, env=uv_environment(), check=True, capture_output=True, timeout=120)
    return project / "uv.lock"


def uv_export_pylock(project: Path, wheels: Path) -> Path:
    """The project's lock (`uv_lock` first) exported by uv as a pylock.toml (PEP 751), without its dev group."""
    command = [uv_binary(), "export", "--format", "pylock.toml", "--output-file", "pylock.toml", "--no-dev"]
    command += ["--offline", "--no-index", "--find-links", str(wheels), "--python", sys.executable, "--quiet"]
    subprocess.run(command, cwd=project, env=uv_environment(), check=True, capture_output=True, timeout=120)
    return project / "pylock.toml"
