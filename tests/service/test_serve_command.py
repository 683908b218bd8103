"""`forkaudit serve`: the embedded one-command mode (SQLite, the filesystem broker), started as a user starts it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.service.conftest import (
    AUDIT_TIMEOUT,
    PYTHON,
    ROOT,
    START_TIMEOUT,
    Process,
    alive,
    base_environment,
    by_name,
    descendants,
    free_port,
    http,
    multipart,
    plain,
    processes_mentioning,
    start_process,
    thread_starter,
    wait_until,
)


@dataclass
class Served:
    process: Process
    url: str
    env: dict[str, str]

    def output(self) -> str:
        return self.process.log.read_text(errors="replace")

    @property
    def token_file(self) -> Path:
        return Path(self.env["FORKAUDIT_DATA_DIR"]) / "launch_token"

    def launch_token(self) -> str:
        """This launch's token, read as the user's scripts read it."""
        return self.token_file.read_text().strip()


def start_serve(directory: Path, *, name: str = "serve") -> Served:
    """`forkaudit serve` on a free port and the data directory `directory/data`, with every default (no broker
    server, no database server), once it says it is serving."""
    env = base_environment(FORKAUDIT_DATA_DIR=str(directory / "data"))
    port = free_port()
    argv = [PYTHON, "-m", "auditor.cli", "serve", "--port", str(port), "--workers", "1"]
    served = Served(start_process(name, argv, env=env, logs=directory), f"http://127.0.0.1:{port}", env)
    wait_until(
        lambda: "forkaudit is serving" in served.output() or not served.process.alive(),
        timeout=START_TIMEOUT,
        what=lambda: f"forkaudit serve to be ready\n{served.process.tail()}",
    )
    assert served.process.alive(), served.process.tail()
    return served


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Served]:
    served = None
    try:
        served = start_serve(tmp_path)
        yield served
    finally:
        if served is not None:
            served.process.stop(timeout=60)
        no_process_left(tmp_path)


def no_process_left(directory: Path) -> None:
    wait_until(
        lambda: not processes_mentioning(str(directory)) or None,
        timeout=15,
        what=lambda: f"no process left: {processes_mentioning(str(directory))}",
    )


def submit(served: Served, wheels: list[Path], token: str | None = None) -> dict:
    body, content_type = multipart("wheels", wheels)
    created = http("POST", f"{served.url}/api/v1/audits/", token=token, body=body, content_type=content_type)
    assert created.status == 202, created
    return created.data


def finished(served: Served, audit_url: str, token: str | None = None) -> dict:
    return wait_until(
        lambda: (a := http("GET", audit_url, token=token).data)["status"] in ("done", "failed") and a,
        timeout=AUDIT_TIMEOUT,
        interval=0.5,
        what=lambda: f"the audit\n{served.process.tail()}",
    )


def forkaudit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "auditor.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_serve_answers_audits_with_the_embedded_broker_and_stops_everything_on_sigterm(serve: Served, tmp_path: Path):
    assert f"{serve.url}/api/v1/docs/" in serve.output()
    assert http("GET", f"{serve.url}/api/v1/docs/", accept="text/html").status == 200
    assert http("GET", f"{serve.url}/api/v1/schema/").status == 200
    token = forkaudit("token", "create", "alice", env=serve.env).stdout.strip()
    wheels = tmp_path / "wheels"
    wheels.mkdir()

    created = submit(
        serve, [plain(wheels, "srv-app", requires=["srv-telemetry"]), thread_starter(wheels, "srv-telemetry")], token
    )
    audit = finished(serve, created["url"], token)

    assert audit["status"] == "done", f"{audit}\n{serve.process.tail()}"
    assert {d["name"]: d["verdict"] for d in audit["report"]["distributions"]} == {
        "srv-telemetry": "unsafe",
        "srv-app": "safe",
    }
    assert ["srv-app", "srv-telemetry"] in by_name(audit["report"])["srv-telemetry"]["paths"]
    children = descendants(serve.process.pid)
    assert len(children) >= 3, "gunicorn's master and worker, and the Celery worker"

    serve.process.popen.send_signal(signal.SIGTERM)
    code = serve.process.popen.wait(timeout=60)

    assert code == 0, serve.process.tail()
    left = wait_until(lambda: all(not alive(pid) for pid in children), timeout=15, what="the children to exit")
    assert left


def test_serve_binds_loopback_in_local_mode_where_only_the_launch_token_submits(serve: Served, tmp_path: Path):
    token = serve.launch_token()
    assert serve.token_file.stat().st_mode & 0o777 == 0o600  # no other user of the machine can read it
    assert f"forkaudit is serving {serve.url}/?token={token}" in serve.output()
    assert "Local mode" in serve.output()
    body, content_type = multipart("wheels", [plain(tmp_path, "srv-local")])
    audits = f"{serve.url}/api/v1/audits/"

    without_token = http("POST", audits, body=body, content_type=content_type)
    created = submit(serve, [plain(tmp_path, "srv-local")], token)

    assert without_token.status == 401, without_token
    assert finished(serve, created["url"], token)["status"] == "done"
    assert http("GET", created["url"]).status == 404  # nor does anyone else see it
    serve.process.stop(timeout=60)
    assert not serve.token_file.exists()  # a stopped server's token is not left to be mistaken for a live one's


def test_serve_makes_a_new_launch_token_at_each_start(tmp_path: Path):
    tokens = []
    for name in ("first", "second"):
        served = start_serve(tmp_path, name=name)
        try:
            tokens.append(served.launch_token())
        finally:
            served.process.stop(timeout=60)
    no_process_left(tmp_path)

    assert tokens[0] != tokens[1]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


def test_serve_resumes_the_audits_a_killed_worker_left_unfinished(tmp_path: Path):
    first = start_serve(tmp_path, name="first")
    try:
        created = submit(first, [plain(tmp_path, "srv-resumed", sleep=6)], first.launch_token())
        database = tmp_path / "data" / "forkaudit.sqlite3"
        wait_until(
            lambda: _count(database, "SELECT COUNT(*) FROM auditor_probeclaim"),
            timeout=AUDIT_TIMEOUT,
            what="the probe to be under way",
        )
        [worker] = [p for p in descendants(first.process.pid) if b"celery" in Path(f"/proc/{p}/cmdline").read_bytes()]
        os.killpg(worker, signal.SIGKILL)  # the filesystem broker has deleted the task: only a restart recovers
        assert first.process.popen.wait(timeout=60) == 3
    finally:
        first.process.stop()

    second = start_serve(tmp_path, name="second")
    try:
        audit = finished(second, created["url"].replace(first.url, second.url), second.launch_token())
    finally:
        second.process.stop(timeout=60)
        no_process_left(tmp_path)

    assert "resuming 1 unfinished audit(s)" in second.output()
    assert audit["status"] == "done", f"{audit}\n{second.process.tail()}"
    assert [d["name"] for d in audit["report"]["distributions"]] == ["srv-resumed"]
    assert audit["progress"] == {"done": 1, "total": 1}


def _count(database: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)) as db:
        try:
            return int(db.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the tables do not exist yet
            return 0


def test_serve_stops_the_other_child_and_fails_when_one_dies(serve: Served):
    children = descendants(serve.process.pid)
    [worker] = [pid for pid in children if b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    os.kill(worker, signal.SIGKILL)
    code = serve.process.popen.wait(timeout=60)

    assert code == 3
    assert "the worker exited (killed by SIGKILL)" in serve.output()
    assert wait_until(lambda: all(not alive(pid) for pid in children), timeout=15, what="the web server to stop")


def test_serve_refuses_a_port_in_use(tmp_path: Path):
    env = base_environment(FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = forkaudit("serve", "--port", str(port), env=env)

    assert done.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "no-such-host.invalid"], "neither an IP address nor a name"),
        (["--host", "192.0.2.1"], "not an address of this machine"),
        (["--port", "70000"], "between 1 and 65535"),
        (["--port", "http"], "not a port number"),
    ],
)
def test_serve_refuses_a_bad_host_or_port(tmp_path: Path, args: list[str], message: str):
    done = forkaudit("serve", *args, env=base_environment(FORKAUDIT_DATA_DIR=str(tmp_path / "data")))

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
