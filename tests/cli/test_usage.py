"""What the command line says about itself and about usage it cannot follow: its version, a file given without -r,
the file it reads when no -r is given."""

from __future__ import annotations

from importlib.metadata import version

import pytest


def test_version_is_the_installed_distributions(forkaudit):
    done = forkaudit("--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"forkaudit {version('forkaudit')}\n"


@pytest.mark.parametrize("command", ["audit", "check"])
def test_a_file_named_without_r_gets_the_command_that_reads_it(forkaudit, command):
    done = forkaudit(command, "requirements.txt", "dev.txt")

    assert done.returncode == 2
    assert "unrecognized arguments: requirements.txt dev.txt" in done.stderr
    assert f"files are given with -r: forkaudit {command} -r requirements.txt -r dev.txt" in done.stderr


def test_an_unknown_option_gets_no_file_hint(forkaudit):
    done = forkaudit("audit", "--no-such-option")

    assert done.returncode == 2
    assert done.stderr.rstrip().endswith("unrecognized arguments: --no-such-option")


def test_audit_without_r_reads_requirements_txt_of_the_current_directory(forkaudit, tmp_path):
    (tmp_path / "requirements.txt").write_text("six\nnot a requirement!\n")

    done = forkaudit("audit", cwd=tmp_path)

    assert done.returncode == 2  # the file was read: its bad line is refused, before anything is resolved
    assert "no -r given: reading ./requirements.txt" in done.stderr
    assert "requirements.txt:2" in done.stderr


def test_audit_without_r_or_a_default_file_asks_for_one(forkaudit, tmp_path):
    done = forkaudit("audit", cwd=tmp_path)

    assert done.returncode == 2
    assert "give requirements files (-r FILE)" in done.stderr


def test_a_bad_allow_external_value_is_refused_naming_the_variable(forkaudit, tmp_path, monkeypatch):
    (tmp_path / "requirements.txt").write_text("six\n")
    monkeypatch.setenv("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", "maybe")

    done = forkaudit("audit", "-r", str(tmp_path / "requirements.txt"))

    assert done.returncode == 2
    assert "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS must be a boolean" in done.stderr
    assert "Traceback" not in done.stderr
