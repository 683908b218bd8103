"""`forkaudit audit` refuses bad requirement files with exit 2 and a message naming the line, never a traceback."""

from __future__ import annotations

import pytest


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
    assert "FORKAUDIT_VULNERABILITY_SERVICE='osvv' is not one of osv, pypi, none" in done.stderr
    assert "resolving" not in done.stderr  # refused before any work
