"""`forkaudit serve`: the web UI, the API and a worker in one command, on the embedded defaults (docs/architecture.md).

This process only supervises: it migrates the database, then runs the web server and the Celery worker as child
processes started with `subprocess` (fork + exec, no Python code runs between the two), forwards SIGINT/SIGTERM to
them, and stops both when either one dies. It never forks itself, and neither child forks a process that has
imported the application: that is the bug forkaudit exists to find.

Bound to loopback it runs local mode, whose one user is whoever holds the launch token made here at each start
(auditor/api/authentication.py): printed in the URL, written to a file of the data directory that only this user
can read, and given to the web server alone (the worker runs package builds, which need no secret of ours).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.cli.common import EXIT_INCOMPLETE, EXIT_OK, Incomplete, UsageError, positive_int

WEB_THREADS = 4  # threads per web worker process
STOP_GRACE_SECONDS = 15.0  # after this, children that ignore the forwarded signal are killed
POLL_SECONDS = 0.2


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the web UI, the API and a worker (one command)",
        description="Migrate the database, then run the web server (gunicorn) and a worker (Celery, threads pool). "
        "Bound to loopback, this is a single-user local mode without accounts: its user is whoever holds the launch "
        "token it prints (in the URL) and writes to a file of the data directory only you can read.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8000, help="TCP port (default: 8000)")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        metavar="N",
        help=f"web server processes, {WEB_THREADS} threads each (default: 2); the worker runs two tasks per core",
    )
    parser.set_defaults(run=run)


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535: {text!r}")
    return value


# --- the address ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    host: str  # as given, without IPv6 brackets
    port: int
    family: int
    sockaddr: tuple[Any, ...]
    loopback: bool  # every address the host name stands for is a loopback address

    @property
    def wildcard(self) -> bool:
        return self.host in ("0.0.0.0", "::", "")

    @property
    def bind(self) -> str:
        """gunicorn's --bind value."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the server."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    @property
    def connect_to(self) -> tuple[Any, ...]:
        """Where to check that the server accepts connections."""
        if self.wildcard:
            return ("::1", self.port, 0, 0) if self.family == socket.AF_INET6 else ("127.0.0.1", self.port)
        return self.sockaddr


def resolve_address(host: str, port: int) -> Address:
    """The address to listen on; UsageError when the host is not usable or the port cannot be bound here."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise UsageError("--host: empty host name")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(
            f"--host: {host!r} is neither an IP address nor a name this machine can resolve ({exc})"
        ) from None
    family, _, _, _, sockaddr = infos[0]
    loopback = all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)
    address = Address(host, port, family, sockaddr, loopback)
    _check_bindable(address)
    return address


def _check_bindable(address: Address) -> None:
    """Bind once and let go, so that a taken port is a clear message here rather than a child's crash later."""
    with socket.socket(address.family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind(address.sockaddr)
        except OSError as exc:
            where = address.bind
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"{where} is already in use; choose another --port") from None
            if exc.errno == errno.EACCES:
                raise UsageError(f"not allowed to listen on {where} (ports below 1024 need privileges)") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UsageError(f"--host: {address.host} is not an address of this machine") from None
            raise UsageError(f"cannot listen on {where}: {exc.strerror or exc}") from None


def _accepts_connections(address: Address) -> bool:
    try:
        with socket.socket(address.family, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(address.connect_to)
        return True
    except OSError:
        return False


# --- the children --------------------------------------------------------------------------------------------------


def web_command(address: Address, *, workers: int) -> list[str]:
    # gthread workers; never --preload. Without it the gunicorn master imports only gunicorn (no thread of ours
    # exists when it forks its workers) and each worker imports Django and the application after the fork.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "auditor.project.wsgi:application",
        "--bind",
        address.bind,
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(WEB_THREADS),
        "--graceful-timeout",
        "10",
        "--access-logfile",
        "-",
        *_no_control_socket(),
    ]


def _no_control_socket() -> list[str]:
    import gunicorn

    # gunicorn 25.1 added a control socket, on by default. It is served by a thread of the master, which then forks
    # every replacement worker while multi-threaded (the hazard forkaudit reports), and its one path per user
    # (~/.gunicorn/gunicorn.ctl) would be fought over by two services. This supervisor is the control.
    return ["--no-control-socket"] if tuple(gunicorn.version_info[:2]) >= (25, 1) else []


# Two task threads per core: a task also waits (for the index while it resolves, for uv, for a probe's settle time),
# and a second one keeps the core busy meanwhile. The probes hold the worker's cores (auditor.workflow.WORKER_CORES):
# never more interpreters import at once than there are cores.
THREADS_PER_CORE = 2


def worker_threads() -> int:
    """The task threads of a worker on the cores this process may run on."""
    from auditor.core.probe.runner import available_cores

    return THREADS_PER_CORE * available_cores()


def worker_command(*, concurrency: int) -> list[str]:
    # The threads pool: tasks run in threads of this one process and nothing is ever forked. Celery's default
    # prefork pool forks its children after the application (Django, the broker client, whatever the settings
    # import) is loaded, which is exactly the fork-after-threads hazard forkaudit reports. The work is fit for
    # threads: a task waits on subprocesses (uv, the sandboxed probe interpreters) and on the database, and each
    # probe bounds its own time, so the pool does not need to kill tasks (which only prefork can).
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "auditor.project",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
    ]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    exit_code: int | None = field(default=None)

    def alive(self) -> bool:
        if self.exit_code is None:
            self.exit_code = self.process.poll()
        return self.exit_code is None

    def send(self, signum: int) -> None:
        if self.alive():
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:
                pass

    def kill_group(self) -> None:
        """SIGKILL the child and everything in its process group (gunicorn's workers, uv runs, probes)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_child(name: str, command: list[str], env: dict[str, str]) -> Child:
    try:
        # A process group of its own: a Ctrl-C in the terminal reaches only this supervisor, which forwards it
        # once (Celery takes a second SIGINT as "kill running tasks"), and a stuck child can be killed as a group.
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, process_group=0)
    except OSError as exc:
        raise Incomplete(f"cannot start the {name}: {exc.strerror or exc}") from exc
    return Child(name, process)


def child_environment(address: Address) -> dict[str, str]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "auditor.project.settings"))
    env.pop("FORKAUDIT_LAUNCH_TOKEN", None)  # only the one made for this launch, and only for the web server
    # Single-user local mode (no login in the web UI) only where nobody else can connect; explicitly off otherwise,
    # even if the variable was set by hand.
    env["FORKAUDIT_LOCAL_MODE"] = "1" if address.loopback else "0"
    if not env.get("ALLOWED_HOSTS", "").strip() and not address.loopback and not address.wildcard:
        host = f"[{address.host}]" if ":" in address.host else address.host
        env["ALLOWED_HOSTS"] = f"localhost,127.0.0.1,[::1],{host}"
    return env


# --- the launch token ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """Local mode's launch token and the file that holds it."""

    token: str
    path: Path


def publish_launch_token(path: Path) -> str:
    """A new random launch token, written to `path` (mode 0600, replacing an earlier launch's) for this user's
    scripts (`FORKAUDIT_TOKEN=$(cat PATH) forkaudit check ...`)."""
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        os.replace(temporary, path)  # whole or not at all: a reader never sees half a token
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise Incomplete(f"cannot write the launch token to {path}: {exc.strerror or exc}") from exc
    return token


def withdraw_launch_token(path: Path, token: str) -> None:
    """Delete the token file when it still holds `token` (another `serve` on this data directory may have replaced
    it since), so that a stale token is not mistaken for a running server's."""
    try:
        if path.read_text(encoding="utf-8").strip() == token:
            path.unlink()
    except OSError:
        pass


# --- running -------------------------------------------------------------------------------------------------------


def prepare_database() -> None:
    """Migrate, and with the embedded broker, queue again the audits a previous run left unfinished.

    The embedded broker (kombu's filesystem transport) deletes a message when a worker takes it, so a worker that
    was killed lost the tasks it held (Redis gives them back by itself). Queueing each unfinished audit's first step
    again is safe: every step is idempotent, and for an audit already under way it hands out only the distributions
    still pending.
    """
    from django.core.exceptions import ImproperlyConfigured

    try:
        from auditor.cli.common import setup_django

        setup_django(seed=True)
    except ImproperlyConfigured as exc:
        raise UsageError(f"configuration: {exc}") from exc
    from django.conf import settings
    from django.db import DatabaseError, connections

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        connections.close_all()
        return

    from auditor import dispatch
    from auditor.models import Audit

    try:
        unfinished = list(
            Audit.objects.filter(status__in=[Audit.Status.QUEUED, Audit.Status.RUNNING]).values_list("pk", flat=True)
        )
    except DatabaseError as exc:
        raise Incomplete(f"the database cannot be used: {exc}") from exc
    finally:
        connections.close_all()
    from kombu.exceptions import OperationalError

    try:
        for audit_id in unfinished:
            dispatch.enqueue("auditor.tasks.prepare_audit", audit_id)
    except OperationalError as exc:
        raise Incomplete(f"the broker cannot be reached: {exc}") from exc
    if unfinished:
        print(f"forkaudit: resuming {len(unfinished)} unfinished audit(s)", file=sys.stderr)


class Supervisor:
    """Runs the children until a signal asks to stop or one of them exits."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stop_requested: int | None = None

    def on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_requested is None:
            self.stop_requested = signum  # `watch` returns and `stop` forwards it
        else:  # asked twice: do not wait any longer
            for child in self.children:
                child.kill_group()

    def watch(self, address: Address, launch: Launch | None) -> Child | None:
        """Wait until a stop is requested (None) or a child exits by itself (that child)."""
        announced = False
        while self.stop_requested is None:
            for child in self.children:
                if not child.alive():
                    return child
            if not announced and _accepts_connections(address):
                announced = True
                _announce(address, launch)
            time.sleep(POLL_SECONDS)
        return None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Ask the children still running to stop, wait up to `grace` seconds, then kill what is left.

        SIGTERM is a graceful stop for both: gunicorn finishes the requests under way, Celery the running tasks
        (those it cannot finish in time are delivered again: tasks are acknowledged late and idempotent).
        """
        for child in self.children:
            child.send(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(child.alive() for child in self.children) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        for child in self.children:
            if child.alive():
                print(f"forkaudit: the {child.name} did not stop in {grace:.0f} s; killing it", file=sys.stderr)
            # The whole group, even when the leader has exited: a worker of gunicorn's or a uv run may be left.
            child.kill_group()
        for child in self.children:
            try:
                child.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            child.alive()


def _announce(address: Address, launch: Launch | None) -> None:
    if launch is not None:
        print(f"forkaudit is serving {address.url}?token={launch.token}", flush=True)
        print(f"API reference: {address.url}api/v1/docs/", flush=True)
        print(
            "Local mode: for you only. Open the address above (its token lets your browser in); scripts send the "
            f"token as `Authorization: Token ...`, e.g. FORKAUDIT_TOKEN=$(cat {launch.path}) forkaudit check "
            f"--server {address.url} -r requirements.txt. Stop with Ctrl-C.",
            flush=True,
        )
        return
    print(f"forkaudit is serving {address.url}", flush=True)
    print(f"API reference: {address.url}api/v1/docs/", flush=True)
    if address.wildcard:
        print(
            f"Listening on every interface ({address.bind}); other machines reach it only by the names listed "
            "in ALLOWED_HOSTS. Stop with Ctrl-C.",
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    address = resolve_address(args.host, args.port)
    prepare_database()
    env = child_environment(address)
    web_env = dict(env)
    launch = None
    if address.loopback:
        from auditor.api.authentication import launch_token_path

        path = launch_token_path()
        launch = Launch(publish_launch_token(path), path)
        web_env["FORKAUDIT_LAUNCH_TOKEN"] = launch.token
    supervisor = Supervisor()
    previous = {sig: signal.signal(sig, supervisor.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        supervisor.children.append(start_child("web server", web_command(address, workers=args.workers), web_env))
        if supervisor.stop_requested is None:
            supervisor.children.append(start_child("worker", worker_command(concurrency=worker_threads()), env))
        died = supervisor.watch(address, launch)
        supervisor.stop()
    finally:
        for child in supervisor.children:
            if child.alive():
                child.kill_group()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if launch is not None:
            withdraw_launch_token(launch.path, launch.token)
    if died is not None:
        print(f"forkaudit: the {died.name} exited ({_describe(died.exit_code)}); stopped the service", file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_OK


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
