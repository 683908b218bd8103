"""`forkaudit audit` end to end: real wheels, a real environment, real probes, the embedded database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.probes_running import probes_of, wait_for_a_probe_of
from tests.wheelfactory import build_wheel


@pytest.fixture
def wheel_set(tmp_path: Path) -> Path:
    """A requires B; B starts a thread on import; C is clean."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-app", {"fa_app/__init__.py": "import fa_telemetry\n"}, requires=["fa-telemetry"])
    build_wheel(
        wheels,
        "fa-telemetry",
        {
            "fa_telemetry/__init__.py": """
                import threading, time
                threading.Thread(target=time.sleep, args=(60,), name="fa-telemetry-flusher", daemon=True).start()
            """
        },
    )
    build_wheel(wheels, "fa-clean", {"fa_clean/__init__.py": "CLEAN = True\n"})
    return wheels


def by_name(report: dict) -> dict[str, dict]:
    return {d["name"]: d for d in report["distributions"]}


def test_audit_reports_the_thread_starter_unsafe_with_its_path_and_exits_1(forkaudit, wheel_set):
    done = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", "--format", "json")

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["schema"] == "forkaudit-report/1"
    assert report["verdict"] == "unsafe"
    assert report["environment"]["sandbox"] == "bwrap"
    assert report["summary"] == {"distributions": 3, "unsafe": 1, "caution": 0, "safe": 2, "error": 0, "suppressed": 0}
    dists = by_name(report)
    telemetry = dists["fa-telemetry"]
    assert (telemetry["verdict"], telemetry["direct"], telemetry["cached"]) == ("unsafe", True, False)
    assert sorted(telemetry["paths"]) == [["fa-app", "fa-telemetry"], ["fa-telemetry"]]
    [thread] = [f for f in telemetry["findings"] if f["kind"] == "thread-on-import"]
    assert (thread["thread"], thread["native"], thread["alive_after_import"], thread["module"]) == (
        "fa-telemetry-flusher",
        False,
        True,
        "fa_telemetry",
    )
    assert (dists["fa-app"]["verdict"], dists["fa-app"]["findings"]) == ("safe", [])
    assert dists["fa-clean"]["verdict"] == "safe"


def test_audit_fail_on_never_exits_0(forkaudit, wheel_set):
    done = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", "--fail-on", "never")

    assert done.returncode == 0, done.stderr
    assert "fa-telemetry" in done.stdout
    assert "unsafe" in done.stdout


def test_audit_reuses_stored_results_without_probing_again(forkaudit, wheel_set):
    first = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", "--format", "json")
    second = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", "--format", "json")

    assert "3 distributions: 0 known, 3 to probe" in first.stderr
    assert "3 distributions: 3 known, 0 to probe" in second.stderr
    first_report, second_report = json.loads(first.stdout), json.loads(second.stdout)
    assert [d["cached"] for d in second_report["distributions"]] == [True, True, True]
    for dist in second_report["distributions"]:
        dist.pop("cached")
    for dist in first_report["distributions"]:
        dist.pop("cached")
    assert second_report == first_report


def test_audit_works_in_the_configured_work_dir_and_leaves_nothing_behind(forkaudit, wheel_set, tmp_path, monkeypatch):
    work = tmp_path / "scratch"
    monkeypatch.setenv("FORKAUDIT_WORK_DIR", str(work))
    seen: set[str] = set()
    running = threading.Event()
    running.set()

    def watch() -> None:
        while running.is_set():
            with contextlib.suppress(OSError):
                seen.update(path.name for path in work.glob("*/env"))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done = forkaudit("audit", "--wheels", str(wheel_set), "--no-index")
    finally:
        running.clear()
        watcher.join()

    assert done.returncode == 1, done.stderr
    assert seen == {"env"}  # the audit's environment was there while it ran
    # and is deleted in the background once the audit is done
    deadline = time.monotonic() + 30
    while list(work.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(work.iterdir()) == []


def test_audit_no_cache_probes_again(forkaudit, wheel_set):
    forkaudit("audit", "--wheels", str(wheel_set), "--no-index")
    again = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", "--no-cache")

    assert "3 distributions: 0 known, 3 to probe" in again.stderr


@pytest.mark.parametrize("fmt", ["markdown", "sarif", "table"])
def test_audit_writes_each_format_to_the_output_file(forkaudit, wheel_set, tmp_path, fmt):
    output = tmp_path / f"report.{fmt}"

    done = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", "--format", fmt, "--output", str(output))

    assert done.returncode == 1
    assert done.stdout == ""
    text = output.read_text()
    assert "fa-telemetry" in text
    if fmt == "sarif":
        assert json.loads(text)["version"] == "2.1.0"


def test_audit_strict_fails_on_a_distribution_that_could_not_be_probed(forkaudit, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-broken", {"fa_broken/__init__.py": "import os\nos._exit(5)\n"})

    lenient = forkaudit("audit", "--wheels", str(wheels), "--no-index", "--format", "json")
    strict = forkaudit("audit", "--wheels", str(wheels), "--no-index", "--strict")

    assert lenient.returncode == 0
    assert json.loads(lenient.stdout)["verdict"] == "error"
    assert strict.returncode == 1


def test_audit_refuses_a_directory_without_wheels(forkaudit, tmp_path):
    done = forkaudit("audit", "--wheels", str(tmp_path))

    assert done.returncode == 2
    assert "forkaudit: error:" in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_refuses_an_invalid_wheel(forkaudit, tmp_path):
    (tmp_path / "evil-1.0-py3-none-any.whl").write_bytes(b"not a zip")

    done = forkaudit("audit", "--wheels", str(tmp_path))

    assert done.returncode == 2
    assert "evil-1.0-py3-none-any.whl" in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_needs_requirements_or_wheels(forkaudit):
    done = forkaudit("audit")

    assert done.returncode == 2
    assert "-r FILE" in done.stderr


def test_audit_takes_defaults_and_suppressions_from_pyproject(forkaudit, wheel_set, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.forkaudit]\nformat = "json"\n'
        '[[tool.forkaudit.suppress]]\npackage = "fa-telemetry"\nreason = "flushes nothing before the fork"\n'
    )

    done = forkaudit("audit", "--wheels", str(wheel_set), "--no-index", cwd=project)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"] == "safe"
    assert by_name(report)["fa-telemetry"]["suppressed"] == "flushes nothing before the fork"
    assert by_name(report)["fa-telemetry"]["verdict"] == "unsafe"


def test_audit_refuses_a_suppression_without_a_reason(forkaudit, wheel_set, tmp_path):
    (tmp_path / ".forkaudit.toml").write_text('[[suppress]]\npackage = "fa-telemetry"\n')

    done = forkaudit("audit", "--wheels", str(wheel_set), cwd=tmp_path)

    assert done.returncode == 2
    assert "needs a reason" in done.stderr


@pytest.mark.parametrize("attempt", range(3))  # the failure this guards against was a race: a few tries
def test_audit_that_cannot_resolve_exits_2_without_noise_from_work_it_started_beside(forkaudit, tmp_path, attempt):
    # pip-audit's import (which runs pip) and Django's start run beside the resolution; an early exit waits for them.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-needy", {"fa_needy/__init__.py": ""}, requires=["fa-missing"])

    done = forkaudit("audit", "--wheels", str(wheels), "--no-index")

    assert done.returncode == 2
    assert "fa-missing" in done.stderr
    assert "Traceback" not in done.stderr


def _audit_in_a_session_of_its_own(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`forkaudit audit ARGS` on the test's data directory, running (its stderr on a pipe) as a terminal's foreground
    job would: a process group of its own, which the test can signal as a whole."""
    env = dict(os.environ, FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "auditor.cli", "audit", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        text=True,
    )


def test_audit_interrupted_by_ctrl_c_stops_its_probes_and_says_so_without_tracebacks(tmp_path, ctrl_c_interrupts):
    # A terminal's Ctrl-C goes to the whole foreground process group: the CLI and every helper process it started,
    # but not the probes, each in a session of its own. The audit must stop them rather than wait for their end.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-slow", {"fa_slow/__init__.py": "import time\ntime.sleep(120)\n"})
    audit = _audit_in_a_session_of_its_own(tmp_path, "--wheels", str(wheels), "--no-index", "--timeout", "300")
    assert audit.stderr is not None
    said = []
    try:
        for line in audit.stderr:
            said.append(line)
            if "to probe" in line:
                break
        assert "to probe" in said[-1], "".join(said)
        wait_for_a_probe_of("fa_slow")
        os.killpg(audit.pid, signal.SIGINT)
        _, rest = audit.communicate(timeout=60)  # half the import's sleep: the probe was stopped, not waited for
    finally:
        if audit.poll() is None:  # the sandbox dies with the audit
            os.killpg(audit.pid, signal.SIGKILL)
            audit.communicate()

    assert audit.returncode == 3, "".join(said) + rest
    assert "forkaudit: interrupted" in rest
    assert "Traceback" not in rest
    assert probes_of("fa_slow") == []


def test_the_environment_of_a_killed_audit_is_deleted_by_the_next_one(tmp_path, forkaudit, monkeypatch):
    # Killed (OOM, a CI job's timeout), an audit never deletes its environment: in /dev/shm that is memory, for good.
    work = tmp_path / "work"
    monkeypatch.setenv("FORKAUDIT_WORK_DIR", str(work))
    slow, quick = tmp_path / "slow", tmp_path / "quick"
    slow.mkdir()
    quick.mkdir()
    build_wheel(slow, "fa-slow", {"fa_slow/__init__.py": "import time\ntime.sleep(120)\n"})
    build_wheel(quick, "fa-quick", {"fa_quick/__init__.py": ""})
    killed = _audit_in_a_session_of_its_own(tmp_path, "--wheels", str(slow), "--no-index")
    try:
        wait_for_a_probe_of("fa_slow")
        [left_behind] = list(work.iterdir())
        assert (left_behind / "env").is_dir()
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate()
    assert left_behind.exists()

    done = forkaudit("audit", "--wheels", str(quick), "--no-index")

    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30  # deleted in the background
    while list(work.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(work.iterdir()) == []


THREADS_SEE_SYSCONFIG = """
import sys, sysconfig, threading
start = threading.Thread.start
def checked_start(thread):
    # Python 3.11's sysconfig fills its variables without a lock on first use: a thread that reads them meanwhile
    # gets None. Every thread of the CLI must find them filled already.
    if sysconfig._CONFIG_VARS is None or "EXE" not in sysconfig._CONFIG_VARS:
        print(f"thread {thread.name} started before sysconfig was filled", file=sys.stderr)
        sys.stderr.flush()
    start(thread)
threading.Thread.start = checked_start
from auditor.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_audit_starts_no_thread_before_sysconfig_is_filled(wheel_set, tmp_path):
    env = dict(os.environ, FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", THREADS_SEE_SYSCONFIG, "audit", "--wheels", str(wheel_set), "--no-index"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )

    assert done.returncode == 1, done.stderr
    assert "before sysconfig was filled" not in done.stderr


def imports_of_an_audit(wheel_set: Path, tmp_path: Path, *, stderr: int) -> str:
    """What `forkaudit audit` imports (`-X importtime` lines) with its stderr on `stderr`; the report on stdout."""
    env = dict(os.environ, FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    env.pop("DATABASE_URL", None)
    log = tmp_path / "importtime.log"
    command = [sys.executable, "-X", "importtime", "-m", "auditor.cli", "audit", "--wheels", str(wheel_set)]
    with log.open("w") as log_file:
        done = subprocess.run(
            [*command, "--no-index", "--format", "json", "--fail-on", "never"],
            stdout=subprocess.PIPE,
            stderr=stderr if stderr != subprocess.PIPE else log_file,
            env=env,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0
    assert json.loads(done.stdout)["summary"]["distributions"] == 3
    return log.read_text()


def rich_lines(importtime: str) -> list[str]:
    return [line for line in importtime.splitlines() if line.rstrip().split("|")[-1].strip().startswith("rich")]


def test_audit_without_a_terminal_prints_its_stages_without_the_bar_library(wheel_set, tmp_path):
    log = imports_of_an_audit(wheel_set, tmp_path, stderr=subprocess.PIPE)

    assert "3 distributions: 0 known, 3 to probe" in log
    assert rich_lines(log) == []


def test_audit_on_a_terminal_draws_its_bar(wheel_set, tmp_path):
    import pty

    leader, follower = pty.openpty()
    seen = bytearray()
    reader = threading.Thread(target=lambda: read_all(leader, seen))
    reader.start()
    try:
        imports_of_an_audit(wheel_set, tmp_path, stderr=follower)
    finally:
        os.close(follower)
        reader.join(timeout=30)
        os.close(leader)
    shown = seen.decode(errors="replace")
    assert "3 distributions: 0 known, 3 to probe" in shown
    assert rich_lines(shown)


def read_all(fd: int, into: bytearray) -> None:
    with contextlib.suppress(OSError):  # EIO once the terminal's other end is closed
        while chunk := os.read(fd, 65536):
            into.extend(chunk)


def test_audit_without_bubblewrap_says_how_to_get_it_and_exits_3(forkaudit, wheel_set, tmp_path, monkeypatch):
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no bwrap (nor setpriv, prlimit) to be found

    done = forkaudit("audit", "--wheels", str(wheel_set), "--no-index")

    assert done.returncode == 3, done.stderr
    assert "bubblewrap (bwrap) is not installed" in done.stderr
    assert "apt-get install bubblewrap" in done.stderr
    assert "Traceback" not in done.stderr
