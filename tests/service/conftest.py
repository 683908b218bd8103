"""The service with real parts: a redis-server, the web server (gunicorn) and Celery worker processes, sharing one
data directory and one SQLite database file, as `docker-compose.yml` runs them (with SQLite for PostgreSQL).

Every process is started in a session of its own, so that a test can kill a whole process tree, and every one is
checked to be gone at the end. Nothing here imports the service into the test process: it is driven over HTTP and
the command line, and inspected through its database file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from auditor.cli.serve import worker_command
from tests.wheelfactory import build_wheel

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT = 60.0
AUDIT_TIMEOUT = 240.0
# Variables of the developer's shell that would change what the service does.
_SERVICE_VARIABLES = (
    "FORKAUDIT_DATA_DIR",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "FORKAUDIT_LOCAL_MODE",
    "FORKAUDIT_TOKEN",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "ALLOWED_HOSTS",
    "DEBUG",
    "UV_FIND_LINKS",
    "UV_OFFLINE",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: Callable[[], str] | str, interval: float = 0.2):
    """The first truthy value of `predicate()`; fails the test after `timeout` seconds, saying `what` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def base_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="auditor.project.settings",
        PYTHONUNBUFFERED="1",
        # No vulnerability lookups: the audited packages are made up, and the tests must not need OSV.
        FORKAUDIT_VULNERABILITY_SERVICE="none",
        # No package index either: uv takes everything from the uploaded wheels and the operator's wheel directory
        # (the service asks the index too by default, and would fail without a network).
        UV_OFFLINE="1",
        # The service is on loopback: never through a proxy the machine may have configured.
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


# --- processes -------------------------------------------------------------------------------------------------------


@dataclass
class Process:
    """A started process, leader of its own session and process group, logging to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- last lines of {self.name}'s log ---\n" + "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL for the group after `timeout`; the leader's exit code."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        return self.popen.wait(timeout=30)


def start_process(name: str, argv: Sequence[str], *, env: dict[str, str], logs: Path) -> Process:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log)


def processes_mentioning(text: str) -> list[str]:
    """Live (not zombie) processes whose command line contains `text`: what a test may have left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state not in ("Z", "X"):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def descendants(pid: int) -> set[int]:
    """The live processes below `pid`, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def group_is_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    # Only zombies left (reaped later by whoever inherited them) count as gone.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return False
    return True


# --- HTTP ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    timeout: float = 30.0,
    accept: str = "application/json",
) -> Answer:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Token {token}"
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, raw = exc.code, exc.read()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = raw.decode(errors="replace")
    return Answer(status, data)


def multipart(field_name: str, paths: Sequence[Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    for path in paths:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body += path.read_bytes() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# --- the service -----------------------------------------------------------------------------------------------------


@dataclass
class Service:
    """A running web server and worker on one data directory, database and broker; see the module docstring."""

    root: Path
    env: dict[str, str]
    url: str
    database: Path
    find_links: Path  # the operator's extra wheel directory (a stand-in for a private package index)
    token: str = ""
    web: Process | None = None
    worker: Process | None = None
    started: list[Process] = field(default_factory=list)
    _workers_started: int = 0

    # Processes.

    def run(self, *args: str, timeout: float = 120.0, env: dict[str, str] | None = None) -> str:
        """Run a command of the service's own (manage.py, forkaudit) to completion; its stdout."""
        done = subprocess.run(
            [PYTHON, *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start_web(self, port: int) -> None:
        # As the web container runs it: gthread workers and never --preload (see auditor/cli/serve.py).
        argv = [
            PYTHON,
            "-m",
            "gunicorn",
            "auditor.project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "4",
            "--no-control-socket",
        ]
        self.web = start_process("web", argv, env=self.env, logs=self.root / "logs")
        self.started.append(self.web)
        wait_until(self._web_ready, timeout=START_TIMEOUT, what=lambda: f"the web server\n{self.web.tail()}")

    def _web_ready(self) -> bool:
        assert self.web is not None and self.web.alive(), f"the web server died\n{self.web.tail() if self.web else ''}"
        try:
            return http("GET", f"{self.url}/api/v1/schema/", timeout=5).status == 200
        except OSError:
            return False

    def start_worker(self) -> Process:
        self._workers_started += 1
        # The worker exactly as `forkaudit serve` starts it (threads pool, never forked), named for the test.
        argv = worker_command(concurrency=4) + ["--hostname", f"worker{self._workers_started}@%h"]
        # The broker's redelivery timer is shortened for the tests (tests/service/broker_settings.py).
        env = dict(self.env, DJANGO_SETTINGS_MODULE="tests.service.broker_settings")
        worker = start_process(f"worker{self._workers_started}", argv, env=env, logs=self.root / "logs")
        self.worker = worker
        self.started.append(worker)
        wait_until(
            lambda: worker.alive() and " ready." in worker.log.read_text(errors="replace"),
            timeout=START_TIMEOUT,
            what=lambda: f"the worker to be ready\n{worker.tail()}",
        )
        return worker

    def ensure_worker(self) -> None:
        if self.worker is None or not self.worker.alive():
            self.start_worker()

    def logs(self) -> str:
        return "\n".join(p.tail() for p in (self.web, self.worker) if p is not None)

    # The API.

    def submit_wheels(self, wheels: Sequence[Path], *, token: str | None = None) -> dict[str, Any]:
        body, content_type = multipart("wheels", wheels)
        answer = http(
            "POST", f"{self.url}/api/v1/audits/", token=token or self.token, body=body, content_type=content_type
        )
        assert answer.status == 202, answer
        return answer.data

    def audit(self, audit_id: str) -> dict[str, Any]:
        answer = http("GET", f"{self.url}/api/v1/audits/{audit_id}/", token=self.token)
        assert answer.status == 200, answer
        return answer.data

    def wait_for(self, audit_id: str, *, timeout: float = AUDIT_TIMEOUT) -> dict[str, Any]:
        """The audit once it is done or failed."""

        def finished() -> dict[str, Any] | None:
            audit = self.audit(audit_id)
            return audit if audit["status"] in ("done", "failed") else None

        return wait_until(finished, timeout=timeout, interval=0.5, what=lambda: f"audit {audit_id}\n{self.logs()}")

    # The database, read as it is on disk.

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=20)) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, without persistence, in a directory of its own."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed: run scripts/setup --test (Debian package redis-server)")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    argv = [
        executable,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]
    server = start_process("redis", argv, env=dict(os.environ), logs=directory)

    def answers() -> bool:
        assert server.alive(), server.tail()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(answers, timeout=START_TIMEOUT, what=lambda: f"redis-server\n{server.tail()}")
    yield f"redis://127.0.0.1:{port}/0"
    server.stop()
    assert group_is_empty(server.pid)


@pytest.fixture(scope="session")
def service(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("service")
    data_dir, find_links = root / "data", root / "index"
    data_dir.mkdir()
    find_links.mkdir()
    database = data_dir / "forkaudit.sqlite3"
    port = free_port()
    env = base_environment(
        FORKAUDIT_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{database}",
        CELERY_BROKER_URL=redis_url,
        # The operator's private wheels, where uv looks besides PyPI (requirements-file tests use them).
        UV_FIND_LINKS=str(find_links),
        # Default 30/hour per user; these tests submit more than that with one token.
        FORKAUDIT_SUBMIT_RATE="1000/hour",
    )
    svc = Service(root=root, env=env, url=f"http://127.0.0.1:{port}", database=database, find_links=find_links)
    try:
        svc.run("manage.py", "migrate", "--noinput")
        svc.token = svc.run("-m", "auditor.cli", "token", "create", "ci").strip()
        svc.start_web(port)
        svc.start_worker()
        yield svc
    finally:
        for process in reversed(svc.started):
            process.stop()
        for process in svc.started:
            assert group_is_empty(process.pid), f"{process.name} left processes behind"
        leftovers = wait_until(
            lambda: not processes_mentioning(str(root)) or None, timeout=15, what="no process of the service left"
        )
        assert leftovers


@pytest.fixture
def live(service: Service) -> Service:
    """The service with a worker running (a test may have killed the previous one)."""
    service.ensure_worker()
    return service


# --- wheels ----------------------------------------------------------------------------------------------------------


def module_name(name: str) -> str:
    return name.replace("-", "_")


def thread_starter(directory: Path, name: str, *, sleep: float = 0.0, version: str = "1.0") -> Path:
    """A wheel whose import (after `sleep` seconds) starts a daemon thread that outlives it: unsafe."""
    source = f"""
        import threading, time
        time.sleep({sleep})
        threading.Thread(target=time.sleep, args=(120,), name="{name}-flusher", daemon=True).start()
    """
    return build_wheel(directory, name, {f"{module_name(name)}/__init__.py": source}, version=version)


def plain(directory: Path, name: str, *, requires: Sequence[str] = (), sleep: float = 0.0) -> Path:
    """A wheel that imports what it requires (after `sleep` seconds) and starts nothing of its own."""
    imports = "".join(f"import {module_name(r)}\n" for r in requires)
    source = f"import time\ntime.sleep({sleep})\n{imports}"
    return build_wheel(directory, name, {f"{module_name(name)}/__init__.py": source}, requires=list(requires))


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in report["distributions"]}


@pytest.fixture
def operator_mirror(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty wheel directory that the in-process workflow resolves from, offline (the operator's mirror,
    UV_FIND_LINKS), the audits working in the test's own directory: the test builds its wheels there."""
    settings.FORKAUDIT_WORK_DIR = str(tmp_path / "work")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("UV_FIND_LINKS", str(mirror))
    monkeypatch.setenv("UV_OFFLINE", "1")
    return mirror
