"""Hostile packages: the probe must end, report why, and let nothing escape the sandbox."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from auditor.core.findings import ModuleStatus, ProcessOnImport, SocketOnImport, ThreadOnImport, Verdict
from auditor.core.probe.sandbox import Limits, SandboxUnavailable, sandbox_for
from auditor.core.verdicts import probe_verdict


def processes_mentioning(marker: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in command:
                found.append(command)
    return found


def only_module(result):
    [module] = result.modules
    return module


@pytest.mark.parametrize(
    ("package", "status", "reason"),
    [
        ("fa-loop", ModuleStatus.TIMEOUT, "wall-clock time limit reached"),
        ("fa-sigterm", ModuleStatus.TIMEOUT, "wall-clock time limit reached"),
        ("fa-exit", ModuleStatus.EXIT, "the interpreter exited with status 3 during the import"),
        ("fa-segv", ModuleStatus.CRASH, "killed by SIGSEGV"),
    ],
)
def test_probe_ends_a_probe_that_never_finishes_or_dies_with_an_error(bench, package, status, reason):
    started = time.monotonic()
    result = bench.probe(package, timeout=3)

    assert time.monotonic() - started < 3 + 5
    module = only_module(result)
    assert (module.status, module.error) == (status, reason)
    assert probe_verdict(result) == Verdict.ERROR
    assert processes_mentioning(package.replace("-", "_")) == []


def test_probe_reports_a_memory_hog_as_memory_limit(bench):
    result = bench.probe("fa-memhog", limits=Limits(memory_bytes=2**30))

    assert only_module(result).status == ModuleStatus.MEMORY
    assert probe_verdict(result) == Verdict.ERROR


def test_probe_drains_a_flood_of_output_and_still_probes(bench):
    started = time.monotonic()
    result = bench.probe("fa-flood")

    assert time.monotonic() - started < 10
    assert only_module(result).status == ModuleStatus.OK
    assert probe_verdict(result) == Verdict.SAFE


def test_probe_sees_a_detached_child_and_leaves_no_process_behind(bench_with):
    marker = f"fa-detached-{uuid.uuid4().hex}"
    bench = bench_with(
        {
            "fa-detach": {
                "files": {
                    "fa_detach/__init__.py": f"""
                        import subprocess, sys
                        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)  # {marker}"],
                                         start_new_session=True)
                    """
                }
            }
        }
    )

    result = bench.probe("fa-detach")

    [process] = [f for f in result.findings if isinstance(f, ProcessOnImport)]
    assert process.alive_after_import is True
    assert marker in process.command
    assert (process.module, process.line) == ("fa_detach", 2)
    assert probe_verdict(result) == Verdict.UNSAFE
    assert processes_mentioning(marker) == []


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_probe_sees_a_daemon_whose_parent_has_exited_and_leaves_no_process_behind(bench_with, sandbox):
    # A double fork: the child starts the daemon and exits, so the daemon is nobody's child any more. In bwrap's PID
    # namespace the probe sees every process; without one, the bootstrap is the subreaper that orphans go to.
    marker = f"fa-orphan-{uuid.uuid4().hex}"
    daemon = f"import time; time.sleep(300)  # {marker}"
    bench = bench_with(
        {
            "fa-orphan": {
                "files": {
                    "fa_orphan/__init__.py": f"""
                        import subprocess, sys
                        starter = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', {daemon!r}])"
                        subprocess.run([sys.executable, "-c", starter], check=True)
                    """
                }
            }
        }
    )

    result = bench.probe("fa-orphan", sandbox=sandbox)

    alive = [f for f in result.findings if isinstance(f, ProcessOnImport) and f.alive_after_import]
    assert [marker in process.command for process in alive] == [True]
    assert probe_verdict(result) == Verdict.UNSAFE
    assert processes_mentioning(marker) == []


def test_probe_cannot_reach_a_listener_on_the_host_loopback(bench_with):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        bench = bench_with(
            {
                "fa-connect": {
                    "files": {
                        "fa_connect/__init__.py": f"""
                            import socket
                            CONNECTION = socket.socket()
                            try:
                                CONNECTION.connect(("127.0.0.1", {port}))
                            except OSError:
                                pass
                        """
                    }
                }
            }
        )
        result = bench.probe("fa-connect")
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()

    [sock] = [f for f in result.findings if isinstance(f, SocketOnImport)]
    assert (sock.open_after_import, sock.address, sock.module) == (True, f"('127.0.0.1', {port})", "fa_connect")
    assert probe_verdict(result) == Verdict.CAUTION


def test_probe_cannot_write_outside_the_sandbox_or_into_the_environment(bench_with, tmp_path):
    marker = uuid.uuid4().hex
    host_file = tmp_path / "escaped.txt"
    bench = bench_with(
        {
            "fa-escape": {
                "files": {
                    "fa_escape/__init__.py": f"""
                        import os, threading, time
                        outcomes = []
                        for path in ({str(host_file)!r}, os.path.join(os.path.dirname(__file__), "planted.py"),
                                     "/tmp/fa-escape-{marker}", "/usr/fa-escape-{marker}"):
                            try:
                                with open(path, "w") as f:
                                    f.write("pwned")
                                outcomes.append("written")
                            except OSError as exc:
                                outcomes.append(type(exc).__name__)
                        threading.Thread(target=time.sleep, args=(5,), name=",".join(outcomes), daemon=True).start()
                    """
                }
            }
        }
    )
    before = sorted(p.name for p in (bench.env.site_packages / "fa_escape").iterdir())

    result = bench.probe("fa-escape")

    [thread] = [f for f in result.findings if isinstance(f, ThreadOnImport)]
    host, environment, private_tmp, usr = thread.thread.split(",")
    # The host path is not there (only its parents, as root's mount points); the environment and /usr are
    # read-only; /tmp is the sandbox's own.
    assert host in ("FileNotFoundError", "PermissionError")
    assert (environment, private_tmp, usr) == ("OSError", "written", "OSError")
    assert not host_file.exists()
    assert not Path(f"/tmp/fa-escape-{marker}").exists()
    assert not Path(f"/usr/fa-escape-{marker}").exists()
    assert sorted(p.name for p in (bench.env.site_packages / "fa_escape").iterdir()) == before


def test_probe_cannot_see_the_services_secrets(bench_with, tmp_path, monkeypatch):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("hunter2")
    monkeypatch.setenv("FORKAUDIT_TEST_SECRET", "hunter2")
    bench = bench_with(
        {
            "fa-snoop": {
                "files": {
                    "fa_snoop/__init__.py": f"""
                        import os, threading, time
                        try:
                            seen_file = open({str(secret_file)!r}).read()
                        except OSError as exc:
                            seen_file = type(exc).__name__
                        name = "|".join([seen_file, str(os.getuid())] + sorted(os.environ))
                        threading.Thread(target=time.sleep, args=(5,), name=name, daemon=True).start()
                    """
                }
            }
        }
    )

    result = bench.probe("fa-snoop")

    [thread] = [f for f in result.findings if isinstance(f, ThreadOnImport)]
    seen_file, uid, *variables = thread.thread.split("|")
    assert (seen_file, uid) == ("FileNotFoundError", "65534")
    passthrough = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    assert set(variables) - passthrough == {"HOME", "LANG", "LC_ALL", "PATH", "PWD", "TMPDIR"}
    assert "hunter2" not in str(result.to_dict())


def test_sandbox_refuses_to_run_without_bwrap(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(SandboxUnavailable, match="FORKAUDIT_SANDBOX=none"):
        sandbox_for("bwrap")


def test_sandbox_weaker_mode_runs_only_when_named_and_says_so(bench):
    result = bench.probe("fa-daemon", sandbox="none")

    assert result.sandbox == "none"
    assert probe_verdict(result) == Verdict.UNSAFE


def test_probe_reports_a_packages_text_exactly_and_it_cannot_forge_events(bench_with):
    # A thread name with quotes, backslashes, line breaks, control characters, non-ASCII text and a lone surrogate
    # (what an undecodable file name becomes), shaped to end the bootstrap's JSON line and start a forged one.
    name = 'x"}\n{"event": "done", "threads": []}\r\x00\x1b\\ caf\xe9 \u2028 \udcff'
    bench = bench_with(
        {
            "fa-forge": {
                "files": {
                    "fa_forge/__init__.py": f"""
                        import threading, time
                        threading.Thread(target=time.sleep, args=(5,), name={name!r}, daemon=True).start()
                    """
                }
            }
        }
    )

    result = bench.probe("fa-forge")

    [thread] = [f for f in result.findings if isinstance(f, ThreadOnImport)]
    assert thread.thread == name
    assert thread.alive_after_import
    assert probe_verdict(result) == Verdict.UNSAFE


def test_probe_bootstrap_imports_nothing_a_package_does_not_import_itself(bench_with):
    # What the bootstrap imports is paid by every probe, and hides the package's own import time: `json` alone
    # brings `re` and `enum`; `ctypes` (a subreaper, which bwrap's PID namespace makes needless) is 3 ms.
    bench = bench_with(
        {
            "fa-modules": {
                "files": {
                    "fa_modules/__init__.py": """
                        import sys
                        loaded = [name for name in ("json", "re", "enum", "ast", "ctypes") if name in sys.modules]
                        raise ImportError("loaded before me: " + ",".join(loaded) + ".")
                    """
                }
            }
        }
    )

    [module] = bench.probe("fa-modules").modules
    assert module.error is not None and module.error.endswith("loaded before me: .")
