"""What a probe's interpreter runs: the bootstrap, compiled once for every probe of interpreters that can run it."""

from __future__ import annotations

import importlib.util
import marshal
import os
import stat
import subprocess
import sys
from pathlib import Path

from auditor.core.probe import runner
from auditor.core.probe.runner import BOOTSTRAP, bootstrap_program
from tests.core.probe.conftest import AUDIT_PYTHON


def test_probes_run_the_bootstrap_compiled_once_in_a_private_directory() -> None:
    program = bootstrap_program(Path(AUDIT_PYTHON))

    assert program.suffix == ".pyc"
    assert bootstrap_program(Path(AUDIT_PYTHON)) == program
    directory = program.parent.lstat()
    assert (directory.st_uid, stat.S_IMODE(directory.st_mode)) == (os.geteuid(), 0o700)
    assert stat.S_IMODE(program.stat().st_mode) == 0o644  # the probe's unprivileged user reads it
    data = program.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    code = marshal.loads(data[16:])
    # The bootstrap's own source, named by its compiled file: the bootstrap tells its frames apart by __file__.
    assert code.co_code == compile(BOOTSTRAP.read_bytes(), str(program), "exec", dont_inherit=True).co_code
    assert code.co_filename == str(program)


def test_the_compiled_bootstrap_is_written_again_when_tmp_was_cleaned() -> None:
    program = bootstrap_program(Path(AUDIT_PYTHON))
    program.unlink()

    assert bootstrap_program(Path(AUDIT_PYTHON)) == program
    assert program.is_file()


def test_the_compiled_bootstrap_runs_as_the_interpreter_s_main_program() -> None:
    program = bootstrap_program(Path(AUDIT_PYTHON))
    # Without its options the bootstrap stops at once: the error shows whose code ran, and from where.
    done = subprocess.run([AUDIT_PYTHON, "-I", "-S", "-B", str(program)], capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    assert f'File "{program}", line' in done.stderr
    assert "ValueError: '--' is not in list" in done.stderr


def test_an_interpreter_of_other_bytecode_runs_the_source(tmp_path: Path) -> None:
    other = tmp_path / "python-other"
    other.write_text(f'#!/bin/sh\necho \'["{sys.base_prefix}", "3.99.0", "linux-x86_64", "0d0d0d0a"]\'\n')
    other.chmod(0o755)

    assert bootstrap_program(other) == BOOTSTRAP


def test_the_source_is_run_when_the_private_directory_is_not_ours(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path))
    (tmp_path / f"forkaudit-{os.geteuid()}").mkdir(mode=0o777)
    os.chmod(tmp_path / f"forkaudit-{os.geteuid()}", 0o777)  # anyone could have replaced the bytecode

    assert bootstrap_program(Path(AUDIT_PYTHON)) == BOOTSTRAP
