"""`forkaudit audit` names the culprit and the fix first: real wheels, real probes, the verified knob found by the
probe itself (DO_NOT_TRACK=1, a telemetry opt-out the probe tries for a Python thread)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.wheelfactory import build_wheel

OPTED_OUT_THREAD = """
    import os, threading, time
    if os.environ.get("DO_NOT_TRACK") != "1":
        threading.Thread(target=time.sleep, args=(60,), name="fa-telemetry-flusher", daemon=True).start()
"""
STUBBORN_THREAD = """
    import threading, time
    threading.Thread(target=time.sleep, args=(60,), name="fa-beacon-pinger", daemon=True).start()
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """requirements.txt asks for fa-app, which pulls in fa-telemetry (its thread honours DO_NOT_TRACK) and
    fa-beacon (its thread honours nothing)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(
        wheels,
        "fa-app",
        {"fa_app/__init__.py": "import fa_telemetry, fa_beacon\n"},
        requires=["fa-telemetry", "fa-beacon"],
    )
    build_wheel(wheels, "fa-telemetry", {"fa_telemetry/__init__.py": OPTED_OUT_THREAD})
    build_wheel(wheels, "fa-beacon", {"fa_beacon/__init__.py": STUBBORN_THREAD})
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "none")
    (tmp_path / "requirements.txt").write_text("fa-app\n")
    return tmp_path


def test_the_table_starts_with_the_culprits_what_pulled_them_in_and_the_fix(forkaudit, project):
    done = forkaudit("audit", "-r", "requirements.txt", "--no-index", "--shallow", cwd=project)

    assert done.returncode == 1, done.stderr
    first = " ".join(done.stdout.split("\n\n")[0].split())  # the headline, wrapped to the width
    assert first == (
        "fa-beacon 1.0 (pulled in by fa-app) and fa-telemetry 1.0 (pulled in by fa-app) leave threads running after "
        "import — fix: set DO_NOT_TRACK=1 (verified, for fa-telemetry); import fa-beacon after the fork"
    )
    assert done.stdout.splitlines()[-1] == "3 distributions: 2 unsafe, 0 error, 0 caution, 1 safe; verdict: unsafe"


def test_a_report_for_a_file_leaves_the_culprit_and_the_fix_on_stderr(forkaudit, project):
    (project / "requirements.txt").write_text("fa-telemetry\n")
    done = forkaudit(
        "audit",
        "-r",
        "requirements.txt",
        "--no-index",
        "--shallow",
        "--format",
        "json",
        "--output",
        "r.json",
        cwd=project,
    )

    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "forkaudit: fa-telemetry 1.0 leaves a Python thread `fa-telemetry-flusher` running after import — "
        "fix: DO_NOT_TRACK=1 (verified)"
    )
    assert json.loads((project / "r.json").read_text())["fix"]["env"] == {"DO_NOT_TRACK": "1"}


def refused_address() -> str:
    with socket.socket() as probe:  # a port nothing listens on: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_an_unreachable_vulnerability_service_is_one_muted_last_line_and_can_be_turned_off(
    forkaudit, project, monkeypatch
):
    (project / "requirements.txt").write_text("fa-telemetry\n")
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "osv")
    monkeypatch.setenv("HTTPS_PROXY", refused_address())  # the lookup's only way out is refused

    done = forkaudit("audit", "-r", "requirements.txt", "--no-index", "--shallow", cwd=project)
    off = forkaudit("audit", "-r", "requirements.txt", "--no-index", "--shallow", "--no-vulnerabilities", cwd=project)

    assert done.returncode == off.returncode == 1, done.stderr + off.stderr
    assert done.stdout.splitlines()[-1].startswith(
        "note: vulnerability data unavailable: https://api.osv.dev cannot be reached"
    )
    assert "Errno" not in done.stdout and "audit problem" not in done.stdout
    assert done.stdout.splitlines()[:-1] == off.stdout.splitlines()
    assert "vulnerability" not in off.stdout


def test_an_unknown_package_is_named_plainly_not_with_uvs_words(forkaudit, project):
    (project / "requirements.txt").write_text("fa-app\nfa-nosuchpackage\n")

    done = forkaudit("audit", "-r", "requirements.txt", "--no-index", "--shallow", cwd=project)

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "forkaudit: error: the requirements cannot be resolved: fa-nosuchpackage is not on the given wheels and links"
    )


@pytest.mark.network
def test_a_package_that_is_not_on_pypi_is_said_so(forkaudit, tmp_path):
    (tmp_path / "requirements.txt").write_text("forkaudit-nosuchpackage-7f3a\n")

    done = forkaudit("audit", "-r", "requirements.txt", cwd=tmp_path)

    assert done.returncode == 2
    assert "forkaudit-nosuchpackage-7f3a is not on the package index" in done.stderr
    assert "we can conclude" not in done.stderr


def test_a_refused_option_names_the_setting_that_allows_it(forkaudit, tmp_path):
    (tmp_path / "requirements.txt").write_text("-e .\n")

    done = forkaudit("audit", "-r", "requirements.txt", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "forkaudit: error: requirements.txt:1: -e (--editable) is not allowed (it reaches outside the configured "
        "package index; FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS=true allows it)"
    )
