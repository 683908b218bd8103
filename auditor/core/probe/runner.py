"""Runs the bootstrap in a fresh, sandboxed interpreter and turns what comes back into module outcomes.

The interpreter is started by spawn (subprocess: fork+exec in C, never a fork of a threaded Python process that goes
on running Python). Its stdout and stderr are drained and capped, its result arrives on a pipe of its own, and it is
killed at the wall-clock limit. When a module hangs or kills the interpreter, that module is recorded and the
others are probed again in a fresh interpreter.

The host's view outranks the probe's word: when the final report arrives, the interpreter is still alive (the
bootstrap waits to be killed), and its threads are counted from outside, in /proc, before the sandbox is ended. A live
thread the report does not account for is reported as unexplained. A report that is not what the bootstrap writes
(auditor.core.probe.protocol) makes the probe an error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import marshal
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.core.environments import interpreter_info
from auditor.core.findings import ModuleOutcome, ModuleStatus
from auditor.core.probe.libraries import thread_libraries
from auditor.core.probe.protocol import ProtocolError, parse_events
from auditor.core.probe.sandbox import Limits, Sandbox, confined_command, probe_environment
from auditor.core.workspace import private_directory

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
MAX_RUNS = 4  # one run, plus a fresh interpreter after each of up to three modules that killed one
_EXIT_GRACE = 1.0  # seconds to wait for the pipes to close after the interpreter exited
_SETTLING = b'{"event":"settle"}\n'  # what the bootstrap writes before it waits the settle time
_DONE = b'{"event":"done"'  # how the bootstrap's final report begins


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, which `taskset` or a cpuset narrows (os.cpu_count() counts
    the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # a platform without affinities
        return os.cpu_count() or 1


class ProbesStopped(Exception):
    """The probe was stopped before it could finish (`Cores.stop`): there is no result to keep."""


class Cores:
    """The cores that the probes of one audit share. An interpreter holds one from its start until it ends or only
    waits (the settle time after an import that started something: 0.2 s, and again in each re-run that verifies a
    mitigation), so that another probe uses the core meanwhile. A package that writes the marker early only lets one
    more interpreter start: the thread pool's size still bounds them."""

    def __init__(self, count: int) -> None:
        self._free = threading.BoundedSemaphore(count)
        self._waits = threading.local()
        self.stopped = threading.Event()

    def stop(self) -> None:
        """Stop every probe that holds or waits for a core (within a quarter of a second), and start none any more:
        they raise ProbesStopped. For an audit that was interrupted, whose probes must not run on to their end."""
        self.stopped.set()

    def waited(self) -> float:
        """Seconds the calling thread has spent waiting for a core so far (a probe's own time leaves them out)."""
        return getattr(self._waits, "seconds", 0.0)

    @contextlib.contextmanager
    def held(self) -> Iterator[Callable[[], None]]:
        """Hold a core until the block ends or the function it gives is called, whichever comes first."""
        asked = time.monotonic()
        self._free.acquire()
        self._waits.seconds = self.waited() + time.monotonic() - asked
        if self.stopped.is_set():
            self._free.release()
            raise ProbesStopped("the audit's probes were stopped")
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self._free.release()

        try:
            yield give_back
        finally:
            give_back()


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    top_level: bool = True


@dataclass
class Run:
    """One interpreter's run of the bootstrap: its events, and how it ended."""

    events: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    overflowed: bool = False
    stdout: bytes = b""
    stderr: bytes = b""
    problem: str | None = None  # why the probe's output cannot be believed
    memory_killed: bool = False  # the kernel killed in it: all its processes together reached the memory limit
    host_threads: dict[int, str] | None = None  # the interpreter's other threads seen from outside: tid -> name
    host_processes: dict[int, str] = field(default_factory=dict)  # the sandbox's other processes: pid -> command
    host_libraries: dict[int, str] = field(default_factory=dict)  # thread -> the library it runs in (libraries.py)

    @property
    def done(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == "done"), None)

    def unexplained_threads(self) -> list[dict[str, Any]]:
        """The interpreter's live threads seen from outside (its main thread aside) that the report does not name as
        alive: all of them when the report cannot be believed."""
        if not self.host_threads:
            return []
        explained: set[int] = set()
        done = self.done if self.problem is None else None
        if done is not None:
            explained |= {t["native_id"] for t in done["threads"] if t["alive"] and t["native_id"] is not None}
            explained |= {t["tid"] for t in done["native_threads"] if t["alive"]}
        return [
            {"tid": tid, "name": name, "library": self.host_libraries.get(tid)}
            for tid, name in sorted(self.host_threads.items())
            if tid not in explained
        ]

    def with_host_view(self, done: dict[str, Any]) -> dict[str, Any]:
        """The final report with what the host saw: the threads and processes it does not account for, and the
        library each native thread runs in (whatever the report said of it)."""
        native = [dict(t, library=self.host_libraries.get(t.get("tid"))) for t in done.get("native_threads") or ()]
        view = {**done, "native_threads": native}
        if "fork" in done:
            # A thread the trial says its library stopped at the fork, but that the host still sees, was not.
            alive = set(self.host_threads or ())
            view["fork"] = dict(done["fork"], stopped=[tid for tid in done["fork"]["stopped"] if tid not in alive])
        return {
            **view,
            "unexplained": self.unexplained_threads(),
            "unexplained_processes": self.unexplained_processes(),
        }

    def unexplained_processes(self) -> list[dict[str, Any]]:
        """The processes running in the sandbox beside the interpreter, seen from outside, that the report does not
        list: all of them when the report cannot be believed."""
        done = self.done if self.problem is None else None
        listed = {p["pid"] for p in done["processes"]} if done is not None else set()
        return [
            {"pid": pid, "command": command}
            for pid, command in sorted(self.host_processes.items())
            if pid not in listed
        ]

    def unfinished_module(self) -> str | None:
        """The module whose import was under way when the interpreter died."""
        finished = {e.get("module") for e in self.events if e.get("event") == "module"}
        begun = [e.get("module") for e in self.events if e.get("event") == "begin"]
        return next((m for m in reversed(begun) if m not in finished), None)

    def failure(self) -> tuple[ModuleStatus, str]:
        """Why the interpreter ended without a report."""
        stderr = self.stderr.decode(errors="replace")
        tail = stderr.strip().splitlines()[-1:] or [""]
        if self.problem is not None:
            return ModuleStatus.CRASH, f"forkaudit could not believe the probe's report: {self.problem}"
        if self.timed_out:
            return ModuleStatus.TIMEOUT, "wall-clock time limit reached"
        if self.memory_killed:
            return ModuleStatus.MEMORY, "memory limit reached by the probe's processes together"
        if self.overflowed:
            return ModuleStatus.CRASH, "the probe wrote more than the result size limit"
        code = self.returncode if self.returncode is not None else -1
        # bwrap reports a child killed by signal N as 128+N; subprocess reports it as -N.
        signum = -code if code < 0 else code - 128 if code > 128 else 0
        if signum == signal.SIGXCPU:
            return ModuleStatus.TIMEOUT, "CPU time limit reached"
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr or "bad_alloc" in stderr:
            return ModuleStatus.MEMORY, f"memory limit reached: {tail[0][:300]}"
        if signum:
            name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
            return ModuleStatus.CRASH, f"killed by {name}"
        return ModuleStatus.EXIT, f"the interpreter exited with status {code} during the import"


def bootstrap_program(python: Path) -> Path:
    """The file a probe on `python` runs: the bootstrap compiled once, if `python` runs this interpreter's bytecode,
    else its source (which each probe would compile again: bench/README.md, finding 31)."""
    if interpreter_info(python).bytecode_magic != importlib.util.MAGIC_NUMBER.hex():
        return BOOTSTRAP
    return _compiled_bootstrap() or BOOTSTRAP


def _compiled_bootstrap() -> Path | None:
    """The bootstrap's bytecode in a file of this user's private directory in /tmp, named by what it was compiled
    from (so that every process shares it, and an upgrade makes a new one), or None if that cannot be.

    A script's .pyc is run as it is (its header is not checked against the source); it is compiled with its own path
    as its file name, so that the bootstrap still tells its own frames from the package's by `__file__`.
    """
    directory = private_directory(Path(tempfile.gettempdir()) / f"forkaudit-{os.geteuid()}")
    if directory is None:
        return None
    name, source = _bootstrap_source()
    program = directory / name
    if not program.exists():  # first use, or /tmp was cleaned since
        try:
            code = compile(source, str(program), "exec", dont_inherit=True)
            partial = program.with_name(f"{name}.{os.getpid()}.{threading.get_ident()}")
            partial.write_bytes(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))
            os.chmod(partial, 0o644)  # the probe's user reads it
            os.replace(partial, program)  # whole or not at all, for a process that runs it meanwhile
        except OSError:
            return None
    return program


@functools.cache
def _bootstrap_source() -> tuple[str, bytes]:
    source = BOOTSTRAP.read_bytes()
    return f"bootstrap-{hashlib.sha256(importlib.util.MAGIC_NUMBER + source).hexdigest()[:16]}.pyc", source


def run_bootstrap(
    *,
    python: Path,
    modules: Sequence[ModuleSpec],
    sandbox: Sandbox,
    binds: Sequence[Path],
    limits: Limits,
    env: Mapping[str, str] | None = None,
    budget: float | None = None,
    settle: float = 0.2,
    cores: Cores | None = None,
    own_pth: Sequence[str] = (),
    django_apps: Sequence[str] = (),
    fork_trial: float | None = None,
) -> Run:
    """Import `modules` in one fresh interpreter `python` inside `sandbox`; never longer than the wall limit. With
    `cores`, the interpreter starts once it holds one of them. Of the environment's `.pth` files, only `own_pth`
    run their code."""
    read_end, write_end = os.pipe()
    options = {
        "fd": write_end,
        "pidns": int(sandbox.private_pids),
        "budget": "" if budget is None else budget,
        "settle": settle,
        "own": "/".join(own_pth),
        "django": ",".join(django_apps),
        "fork": fork_trial or "",
    }
    program = bootstrap_program(python)
    argv = [str(python), "-I", "-S", "-B", str(program), *(f"{key}={value}" for key, value in options.items()), "--"]
    argv += [("+" if module.top_level else "-") + module.name for module in modules]
    environment = probe_environment(env)
    confined = confined_command(sandbox, argv, binds=[*binds, program], env=environment, limits=limits)
    run = Run()
    core = cores.held() if cores is not None else contextlib.nullcontext(lambda: None)
    # The core is taken last: making the working directory (and removing it) is no work of the interpreter's.
    with (
        tempfile.TemporaryDirectory(prefix="forkaudit-probe-") as workdir,
        confined as confinement,
        core as give_back,
    ):
        os.chmod(workdir, 0o1777)
        try:
            process = subprocess.Popen(
                confinement.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_end, *confinement.fds),
                start_new_session=True,  # one process group to kill, whatever it ignores
                env=environment,
                cwd=workdir,
            )
        finally:
            os.close(write_end)
        stopped = cores.stopped if cores is not None else None

        def on_done() -> None:
            interpreter = _interpreter_pid(process.pid) if sandbox.private_pids else process.pid
            if interpreter is not None:
                run.host_threads, run.host_libraries = _host_threads(interpreter)
                run.host_processes = _host_processes(process.pid, interpreter, sandbox.private_pids)

        try:
            result = _drain(process, read_end, run, limits, on_settle=give_back, on_done=on_done, stopped=stopped)
        finally:
            # The interpreter is done: the next probe's may start while the sandbox is torn down (bwrap and its
            # namespace end asynchronously; waiting for that held a core idle: bench/README.md, finding 34).
            give_back()
            _kill(process)
            run.memory_killed = confinement.memory_killed()
            os.close(read_end)
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()
    if stopped is not None and stopped.is_set():
        raise ProbesStopped("the audit's probes were stopped")
    run.returncode = process.returncode
    try:
        run.events = parse_events(result)
    except ProtocolError as exc:
        run.problem = str(exc)
        return run
    done = run.done
    if done is not None:
        reported = {e["module"] for e in run.events if e["event"] == "module"}
        if run.host_threads is None:
            run.problem = "the interpreter ended before forkaudit could count its threads"
        elif not {m.name for m in modules} <= reported:
            run.problem = "a final report before every module's import had ended"
    return run


def _drain(
    process: subprocess.Popen[bytes],
    read_end: int,
    run: Run,
    limits: Limits,
    on_settle: Callable[[], None],
    on_done: Callable[[], None],
    stopped: threading.Event | None = None,
) -> bytes:
    """Read the probe's pipes until its final report is whole (then `on_done`, while the interpreter still waits),
    it ends, the wall-clock limit passes, or `stopped` is set."""
    assert process.stdout and process.stderr
    streams = {process.stdout.fileno(): "stdout", process.stderr.fileno(): "stderr", read_end: "result"}
    kept = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
    deadline = time.monotonic() + limits.wall_seconds
    exited_at: float | None = None
    report_at: int | None = None
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if stopped is not None and stopped.is_set():
                break
            if now >= deadline:
                run.timed_out = process.poll() is None
                break
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _EXIT_GRACE:
                break  # something that escaped the process group still holds a pipe open
            for key, _ in selector.select(min(deadline - now, 0.25)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                name = streams[key.fd]
                if name == "result":
                    start = max(0, len(kept["result"]) - len(_SETTLING))
                    kept["result"] += chunk
                    if _SETTLING in kept["result"][start:]:
                        on_settle()
                    if len(kept["result"]) > limits.result_bytes:
                        run.overflowed = True
                        return bytes(kept["result"])
                    if report_at is None:
                        report_at = _report_start(kept["result"], start)
                    if report_at is not None and kept["result"].find(b"\n", max(report_at, start)) != -1:
                        on_done()  # the report is whole
                        run.stdout, run.stderr = bytes(kept["stdout"]), bytes(kept["stderr"])
                        return bytes(kept["result"])
                elif len(kept[name]) < limits.output_bytes:
                    kept[name] += chunk[: limits.output_bytes - len(kept[name])]
    run.stdout, run.stderr = bytes(kept["stdout"]), bytes(kept["stderr"])
    return bytes(kept["result"])


def _report_start(result: bytearray, start: int) -> int | None:
    """Where a line that begins like the final report begins in `result`, searched from `start` on."""
    if start == 0 and result.startswith(_DONE):
        return 0
    at = result.find(b"\n" + _DONE, start)
    return None if at == -1 else at + 1


def _host_threads(pid: int) -> tuple[dict[int, str] | None, dict[int, str]]:
    """The live threads of the probe's interpreter (host PID `pid`) but its main thread, as its PID namespace numbers
    them (the numbers the bootstrap reports), with their names, and the library each runs in, read from outside;
    None when it is not running."""
    if not _is_running(pid):
        return None, {}
    threads, numbers = {}, {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None, {}
    for tid in tids:
        if tid == str(pid):
            continue  # the main thread's id is the process's
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        numbers[tid] = int(fields.get("NSpid", tid).split()[-1])
        threads[numbers[tid]] = fields.get("Name", "").strip()
    # Most probes leave no thread: their memory map is not read at all.
    found = thread_libraries(pid, list(numbers)) if numbers else {}
    libraries = {numbers[tid]: path for tid, path in found.items()}
    return threads, libraries


def _host_processes(sandbox_pid: int, interpreter: int, private_pids: bool) -> dict[int, str]:
    """The processes running in the probe's sandbox but the interpreter and bwrap's own, as the probe's PID
    namespace numbers them (the numbers the bootstrap reports), with their command lines, read from outside."""
    found = {}
    for pid in _descendants(sandbox_pid):
        number = _namespace_pid(pid)
        if pid == interpreter or number is None or (private_pids and number == 1) or not _is_running(pid):
            continue  # the interpreter, one that ended meanwhile, or bwrap's init
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()[:500].replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found[number] = command.strip()
    return found


def _descendants(pid: int, limit: int = 10_000) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier and len(found) < limit:
        for child in _children(frontier.pop()):
            found.append(child)
            frontier.append(child)
    return found


def _interpreter_pid(sandbox_pid: int) -> int | None:
    """The host PID of the process that is PID 2 in bwrap's namespace: the interpreter (bwrap's init is PID 1, and
    setpriv and prlimit exec it in place)."""
    return next((pid for pid in _descendants(sandbox_pid) if _namespace_pid(pid) == 2), None)


def _namespace_pid(pid: int) -> int | None:
    """What the innermost PID namespace of process (or thread) `pid` calls it; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    numbers = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
    return int(numbers[-1]) if numbers else pid


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the sandbox and wait until everything in it is gone (the machine is left clean)."""
    if process.poll() is None:
        children = _children(process.pid)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()
        # bwrap's init in the PID namespace dies with bwrap and takes the namespace with it, but asynchronously:
        # it turns into a zombie (or vanishes) only once every process in the namespace has been killed.
        deadline = time.monotonic() + 10
        while any(_is_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.002)  # the namespace ends within a few milliseconds of the kill
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def probe_modules(
    modules: Sequence[ModuleSpec],
    *,
    python: Path,
    sandbox: Sandbox,
    binds: Sequence[Path],
    limits: Limits,
    env: Mapping[str, str] | None = None,
    budget: float | None = None,
    settle: float = 0.2,
    cores: Cores | None = None,
    own_pth: Sequence[str] = (),
    django_apps: Sequence[str] = (),
    fork_trial: float | None = None,
) -> tuple[dict[str, ModuleOutcome], dict[str, Any] | None]:
    """Import `modules` in order; each outcome, and the report of the last interpreter that finished, with the
    threads seen from outside that it does not account for (`unexplained`).

    A module that kills its interpreter is recorded with the reason, and the others (except its own submodules,
    which would only import it again) are probed in a fresh interpreter, at most MAX_RUNS interpreters in all.
    `budget` is the time each interpreter may spend before it skips the remaining submodules. A report that cannot
    be believed makes every module a failure, and keeps only what was seen from outside.
    """
    outcomes: dict[str, ModuleOutcome] = {}
    pending = list(modules)
    for _ in range(MAX_RUNS):
        run = run_bootstrap(
            python=python,
            modules=pending,
            sandbox=sandbox,
            binds=binds,
            limits=limits,
            env=env,
            budget=budget,
            settle=settle,
            cores=cores,
            own_pth=own_pth,
            django_apps=django_apps,
            fork_trial=fork_trial,
        )
        if run.problem is not None:
            status, reason = run.failure()
            for module in pending:
                outcomes[module.name] = ModuleOutcome(module.name, status, 0.0, module.top_level, reason)
            return outcomes, run.with_host_view({})
        top_level = {m.name: m.top_level for m in pending}
        for event in run.events:
            if event.get("event") == "module" and event.get("module") in top_level:
                name = event["module"]
                outcomes[name] = ModuleOutcome(
                    name=name,
                    status=_status(event.get("status")),
                    import_seconds=float(event.get("seconds") or 0.0),
                    top_level=top_level[name],
                    error=event.get("error"),
                )
        if run.done is not None:
            return outcomes, run.with_host_view(run.done)
        status, reason = run.failure()
        culprit = run.unfinished_module()
        if culprit is None:
            # It died before importing anything (a `.pth` file, or the interpreter itself): all of it failed.
            for module in pending:
                outcomes.setdefault(module.name, ModuleOutcome(module.name, status, 0.0, module.top_level, reason))
            return outcomes, None
        outcomes[culprit] = ModuleOutcome(
            culprit, status, limits.wall_seconds if run.timed_out else 0.0, top_level[culprit], reason
        )
        survivors = []
        for module in pending:
            if module.name == culprit:
                continue
            if module.name.startswith(culprit + "."):
                outcomes[module.name] = ModuleOutcome(
                    module.name, ModuleStatus.SKIPPED, 0.0, module.top_level, f"{culprit} killed the probe"
                )
            else:
                survivors.append(module)
        pending = survivors
        if not pending:
            return outcomes, None
    for module in pending:
        outcomes.setdefault(
            module.name,
            ModuleOutcome(
                module.name, ModuleStatus.SKIPPED, 0.0, module.top_level, "too many modules killed the probe"
            ),
        )
    return outcomes, None


def _status(value: Any) -> ModuleStatus:
    try:
        return ModuleStatus(value)
    except ValueError:
        return ModuleStatus.IMPORT_ERROR
