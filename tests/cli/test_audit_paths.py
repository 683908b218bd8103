"""A real audit's reports carry none of the server's own paths: neither the interpreter's prefix nor the work
directory, in commands, stacks and import errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.wheelfactory import build_wheel

SPAWNER = """
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    import fa_spawner.broken
"""


def test_commands_stacks_and_errors_show_no_server_path(forkaudit, tmp_path: Path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    files = {"fa_spawner/__init__.py": SPAWNER, "fa_spawner/broken.py": "raise RuntimeError(__file__)\n"}
    build_wheel(wheels, "fa-spawner", files)
    work = tmp_path / "work"
    monkeypatch.setenv("FORKAUDIT_WORK_DIR", str(work))
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "none")

    done = forkaudit("audit", "--wheels", str(wheels), "--no-index", "--shallow", "--format", "json")

    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["distributions"][0]["findings"]
    (process, *_) = [f for f in findings if f["kind"] == "process-on-import"]
    assert process["command"] == "python -c import time; time.sleep(60)"
    stdlib = f"python{sys.version_info.major}.{sys.version_info.minor}/subprocess.py:"
    assert any(frame.startswith(stdlib) for frame in process["stack"])
    assert "fa_spawner/broken.py" in done.stdout
    for server_path in (sys.base_prefix, sys.prefix, str(work), "/site-packages/"):
        assert server_path not in done.stdout
