"""`forkaudit audit -r uv.lock` (and the other lock files) end to end: a real uv.lock of test wheels, made by uv
offline, audited offline (the wheels come through the operator's UV_FIND_LINKS, as from a mirror)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from auditor.cli.audit import read_input
from auditor.core.inputs.locks import marker_environment
from tests.lockfactory import uv_lock
from tests.wheelfactory import build_wheel


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fa-app requires fa-telemetry, which starts a thread on import, and fa-win on Windows only; fa-clean is a
    development tool of the project."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    requires = ["fa-telemetry", "fa-win; sys_platform == 'win32'"]
    build_wheel(directory, "fa-app", {"fa_app/__init__.py": "import fa_telemetry\n"}, requires=requires)
    build_wheel(
        directory,
        "fa-telemetry",
        {
            "fa_telemetry/__init__.py": """
                import threading, time
                threading.Thread(target=time.sleep, args=(60,), name="fa-telemetry-flusher", daemon=True).start()
            """
        },
    )
    build_wheel(directory, "fa-win", {"fa_win/__init__.py": ""})
    build_wheel(directory, "fa-clean", {"fa_clean/__init__.py": ""})
    monkeypatch.setenv("UV_FIND_LINKS", str(directory))
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "none")
    return directory


@pytest.fixture
def lock_file(tmp_path: Path, wheels: Path) -> Path:
    return uv_lock(tmp_path / "project", wheels, dependencies=["fa-app"], dev=["fa-clean"])


def test_audit_of_a_uv_lock_blames_the_thread_starter_on_the_path_the_lock_gives(forkaudit, lock_file):
    done = forkaudit("audit", "-r", str(lock_file), "--no-index", "--shallow", "--format", "json")

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    dists = {d["name"]: d for d in report["distributions"]}
    assert set(dists) == {"fa-app", "fa-telemetry"}  # not fa-win (Windows), fa-clean (dev) nor the project itself
    telemetry = dists["fa-telemetry"]
    assert (telemetry["verdict"], telemetry["direct"], telemetry["paths"]) == (
        "unsafe",
        False,
        [["fa-app", "fa-telemetry"]],
    )
    assert (dists["fa-app"]["verdict"], dists["fa-app"]["direct"]) == ("safe", True)


def test_sarif_of_a_lock_points_at_the_lock_entry_of_the_package_that_brings_the_culprit_in(forkaudit, lock_file):
    done = forkaudit("audit", "-r", str(lock_file), "--no-index", "--shallow", "--format", "sarif")

    assert done.returncode == 1, done.stderr
    [result] = json.loads(done.stdout)["runs"][0]["results"]
    [location] = result["locations"]
    where = location["physicalLocation"]
    lines = lock_file.read_text().splitlines()
    assert where["artifactLocation"]["uri"].endswith("uv.lock")
    # fa-telemetry comes in through fa-app: the result is at fa-app's entry in the lock.
    line = where["region"]["startLine"]
    assert lines[line - 1] == "[[package]]" and lines[line] == 'name = "fa-app"'


def test_dev_takes_the_locks_development_dependencies_too(lock_file):
    args = argparse.Namespace(requirements=[str(lock_file)], wheels=None, dev=True)

    lock = read_input(args).lock

    assert lock is not None
    assert "fa-clean==1.0" in lock.select(marker_environment(sys.executable)).requirements


def test_a_git_source_in_a_lock_is_refused_with_exit_2_naming_the_package_and_line(forkaudit, lock_file):
    text = lock_file.read_text()
    lock_file.write_text(
        text.replace(
            f'source = {{ registry = "{lock_file.parent.parent / "wheels"}" }}',
            'source = { git = "https://github.com/evil/x?rev=main#abc" }',
            1,
        )
    )
    line = text.splitlines().index('name = "fa-app"')  # its [[package]] line, counted from 1

    done = forkaudit("audit", "-r", str(lock_file))

    assert done.returncode == 2
    assert (
        f"{lock_file}:{line}: fa-app: a git source ('https://github.com/evil/x?rev=main#abc') is not allowed"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("uv.lock", 'version = 1\n[[package]\nname = "a"\n', "uv.lock:2: is not valid TOML"),
        (
            "Pipfile.lock",
            '{\n  "default": {\n    "a": {"version": "1.0"}\n  }\n}\n',
            "Pipfile.lock:3: a: the version must be exact",
        ),
        ("poetry.lock", '[metadata]\nlock-version = "2.1"\n', "poetry.lock: lists no packages"),
    ],
)
def test_a_malformed_lock_file_exits_2_naming_the_file_and_line(forkaudit, tmp_path, name, text, message):
    (tmp_path / name).write_text(text)

    done = forkaudit("audit", "-r", name)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_without_a_lock_file_exits_2(forkaudit, tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")

    done = forkaudit("audit", "-r", "requirements.txt", "--dev")

    assert done.returncode == 2
    assert "--dev takes a lock file's development dependencies" in done.stderr
    assert "Traceback" not in done.stderr
