"""`forkaudit audit` refuses bad requirement files with exit 2 and a message naming the line, never a traceback."""

from __future__ import annotations

import argparse
import os
import zipfile
from pathlib import Path

import pytest

from auditor.cli.audit import read_input
from auditor.cli.common import UsageError
from tests.wheelfactory import build_wheel


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        ("-e .", "-e (--editable)"),
        ("--index-url https://evil.example/simple", "--index-url"),
        ("--extra-index-url https://evil.example/simple", "--extra-index-url"),
        ("--find-links /srv/wheels", "--find-links"),
        ("file:///etc/passwd", "file:"),
        ("./local/package", "local path"),
        ("git+https://github.com/psf/requests", "VCS"),
    ],
)
def test_audit_refuses_options_that_reach_outside_the_index(forkaudit, tmp_path, line, refused):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"six==1.16.0\n# a comment\n{line}\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert f"{requirements}:3:" in done.stderr
    assert refused in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_refuses_garbage_bytes(forkaudit, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(b"six\n\xff\xfe\x00garbage\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert str(requirements) in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_refuses_a_10_mb_file(forkaudit, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# padding\n" * (1024 * 1024))

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert "too large" in done.stderr or "larger than" in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_refuses_a_missing_file(forkaudit, tmp_path):
    done = forkaudit("audit", "-r", str(tmp_path / "nope.txt"))

    assert done.returncode == 2
    assert "cannot read" in done.stderr


def test_audit_follows_includes_and_refuses_what_they_hold(forkaudit, tmp_path):
    (tmp_path / "base.txt").write_text("six\n--index-url https://evil.example/simple\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("-r base.txt\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert "base.txt:2:" in done.stderr


def test_audit_refuses_an_unknown_vulnerability_service_before_it_starts(forkaudit, tmp_path, monkeypatch):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.16.0\n")
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "osvv")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert "configuration: FORKAUDIT_VULNERABILITY_SERVICE must be one of none, osv, pypi; got 'osvv'" in done.stderr
    assert "resolving" not in done.stderr  # refused before any work


# --- what includes may reach ---------------------------------------------------------------------------------------


def test_audit_refuses_an_include_outside_the_requirements_directory_without_showing_it(forkaudit, tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "project").mkdir()
    requirements = tmp_path / "project" / "requirements.txt"
    requirements.write_text("six==1.16.0\n-r ../passwd\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert f"{requirements}:2: -r '../passwd': is outside {tmp_path / 'project'}" in done.stderr
    assert "root:x" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("fifo", "requirements.txt:1: -r 'base.txt': is not a regular file (a FIFO)"),
        ("directory", "requirements.txt:1: -r 'base.txt': is not a regular file (a directory)"),
        ("dev-zero", "/dev/zero: is not a regular file (a character device)"),
    ],
)
def test_audit_refuses_what_is_not_a_regular_file_without_hanging_or_reading_it(forkaudit, tmp_path, make, message):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("-r base.txt\n")
    if make == "fifo":
        os.mkfifo(tmp_path / "base.txt")  # opened without a writer, it would block for ever
    elif make == "directory":
        (tmp_path / "base.txt").mkdir()
    else:
        requirements = Path("/dev/zero")  # read to its end, it would fill the memory

    done = forkaudit("audit", "-r", str(requirements), timeout=60)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_names_the_line_of_an_include_it_cannot_read(forkaudit, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.16.0\n-r missing.txt\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert f"{requirements}:2: -r 'missing.txt': cannot read it: No such file or directory" in done.stderr


def test_audit_follows_an_outside_include_only_when_the_operator_allows_it(tmp_path, monkeypatch):
    (tmp_path / "common.txt").write_text("six==1.16.0\n")
    (tmp_path / "project").mkdir()
    requirements = tmp_path / "project" / "requirements.txt"
    requirements.write_text("-r ../common.txt\n")
    args = argparse.Namespace(requirements=[str(requirements)], wheels=None)

    monkeypatch.delenv("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", raising=False)
    with pytest.raises(UsageError, match="is outside"):
        read_input(args)
    monkeypatch.setenv("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", "true")
    assert read_input(args).requirements == ("six==1.16.0",)


def test_audit_takes_options_that_reach_outside_the_index_only_when_the_operator_allows_it(tmp_path, monkeypatch):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("--extra-index-url https://mirror.example/simple\nsix==1.16.0\n")
    args = argparse.Namespace(requirements=[str(requirements)], wheels=None)

    monkeypatch.delenv("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", raising=False)
    with pytest.raises(UsageError, match="--extra-index-url"):
        read_input(args)
    monkeypatch.setenv("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", "true")
    assert read_input(args).requirements == ("--extra-index-url https://mirror.example/simple", "six==1.16.0")


# --- what a wheel set may unpack to --------------------------------------------------------------------------------


def test_audit_refuses_wheels_that_together_unpack_to_more_than_the_limit(forkaudit, tmp_path):
    # The attack: each wheel within its own limit (1 GiB), a few MiB in all, 2.1 GiB unpacked into the work directory.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for n in range(3):
        wheel = build_wheel(wheels, f"fa-zeros-{n}", {f"fa_zeros_{n}/__init__.py": ""})
        with zipfile.ZipFile(wheel, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            with archive.open(f"fa_zeros_{n}/zeros.bin", "w", force_zip64=True) as member:
                for _ in range(700):
                    member.write(bytes(2**20))
    assert sum(wheel.stat().st_size for wheel in wheels.iterdir()) < 16 * 2**20

    done = forkaudit("audit", "--wheels", str(wheels))

    assert done.returncode == 2, done.stderr
    assert "the wheels unpack to 2,202," in done.stderr
    assert "bytes, more than the limit of 2,147,483,648 bytes" in done.stderr
    assert "Traceback" not in done.stderr
    assert "resolving" not in done.stderr  # refused before any work
