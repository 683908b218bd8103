from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def forkaudit(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `forkaudit` command on a data directory of the test's own."""
    data_dir = tmp_path / "data"

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, FORKAUDIT_DATA_DIR=str(data_dir))
        env.pop("DATABASE_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "auditor.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run
