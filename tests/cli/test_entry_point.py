"""The installed `forkaudit` script, and what importing it costs a process that never runs the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "forkaudit"


def imported_modules(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout))


def test_the_installed_script_runs_the_cli():
    done = subprocess.run([str(SCRIPT), "audit", "--help"], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "--wheels DIR" in done.stdout


def test_the_installed_script_exits_2_on_bad_usage():
    done = subprocess.run([str(SCRIPT), "audit", "--no-such-option"], capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-option" in done.stderr


def test_the_script_imports_nothing_before_main_runs():
    # A process pool started by spawn (the static scanner's) runs the script again in each worker, as __mp_main__.
    modules = imported_modules("import auditor.launcher")

    assert "auditor.launcher" in modules
    assert not {name for name in modules if name.startswith(("auditor.cli", "auditor.core", "django"))}


RENDER = """
from auditor.core.findings import AuditReport, Environment, Verdict
from auditor.core.report import render
report = AuditReport(Verdict.SAFE, Environment(python="3.11.2", platform="linux-x86_64", sandbox="bwrap"), ())
print(render(report, {fmt!r}), file=sys.stderr)
"""


def test_no_format_imports_a_terminal_library():
    # rich costs a CI run 60 ms of start-up; the table lays itself out (auditor.core.report.table).
    for fmt in ("table", "json", "markdown", "sarif"):
        assert "rich" not in imported_modules("import sys" + RENDER.format(fmt=fmt)), fmt


def test_an_internal_error_exits_3_and_says_where_it_happened(monkeypatch, capsys):
    from auditor.cli import audit, main

    def buggy(args):  # stands for a bug anywhere below the command
        return None + "x"

    monkeypatch.setattr(audit, "run", buggy)
    monkeypatch.delenv("FORKAUDIT_DEBUG", raising=False)

    assert main(["audit", "--wheels", "."]) == 3
    message = capsys.readouterr().err
    assert message.startswith("forkaudit: internal error: TypeError: unsupported operand")
    assert f"at {__file__}:" in message
    assert "in buggy; FORKAUDIT_DEBUG=1 shows the whole traceback" in message


def test_the_installed_script_delivers_the_whole_report_and_its_exit_code(tmp_path):
    # The script leaves without tearing the interpreter down: the report must be out, whole, before it does.
    from tests.wheelfactory import build_wheel

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    starts_a_thread = "import threading, time\nthreading.Thread(target=time.sleep, args=(9,)).start()\n"
    build_wheel(wheels, "fa-telemetry", {"fa_telemetry/__init__.py": starts_a_thread})
    env = dict(os.environ, FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    env.pop("DATABASE_URL", None)
    env.pop("PYTHONUNBUFFERED", None)  # stdout into a pipe is then buffered, as it is for most users
    command = [str(SCRIPT), "audit", "--wheels", str(wheels), "--no-index", "--format", "json"]

    to_stdout = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    to_file = subprocess.run(
        [*command, "--output", str(tmp_path / "report.json")], capture_output=True, text=True, env=env, cwd=tmp_path
    )

    assert to_stdout.returncode == 1, to_stdout.stderr
    assert json.loads(to_stdout.stdout)["verdict"] == "unsafe"
    assert to_file.returncode == 1, to_file.stderr
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["unsafe"] == 1
