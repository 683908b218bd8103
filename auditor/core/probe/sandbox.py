"""Where untrusted package code runs: bubblewrap, or (only when the operator says so) a weaker mode.

A sandbox turns a command into the command that runs it confined. bwrap gives the probe no network (new network
namespace), its own PID namespace (everything it starts dies with it), a read-only view of only what it needs (the
system's /usr, the audit environment, the interpreter, the bootstrap), a private /tmp, a scrubbed environment, and,
when we are root, a real unprivileged user (setpriv, after bwrap has bound in what root can read). prlimit applies
the resource limits before the interpreter starts, so they hold even for code run by `.pth` files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from auditor.core.probe.cgroups import ProbeGroup, probe_group
from auditor.core.probe.seccomp import filter_fd, no_user_namespaces_filter

NOBODY = 65534

# Read-only system files a Python process may reasonably need; nothing else of /etc is visible.
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/mime.types",
)
# Host settings that only describe this machine's processor; older OpenBLAS builds crash without them here.
_PASSTHROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class SandboxUnavailable(RuntimeError):
    """The configured sandbox cannot run here; the message says what to do."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    cpu_seconds: int = 180
    memory_bytes: int = 8 * 2**30  # address space: thread stacks and allocator arenas reserve a lot
    file_bytes: int = 64 * 2**20
    open_files: int = 1024
    processes: int = 512  # per user: threads count too
    tmp_bytes: int = 256 * 2**20
    output_bytes: int = 64 * 2**10  # of stdout and of stderr each kept; the rest is drained and dropped
    result_bytes: int = 16 * 2**20  # what the runner holds of the result pipe (events are counted too)


def probe_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment a probe sees: nothing of the service's (no secrets), plus `extra`."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    env.update({name: os.environ[name] for name in _PASSTHROUGH if name in os.environ})
    env.update(extra or {})
    return env


def _prlimit(limits: Limits) -> list[str]:
    return [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.processes}",
        "--core=0",
        "--",
    ]


class Sandbox(Protocol):
    name: str
    private_pids: bool  # the probe has a PID namespace of its own

    def wrap(
        self,
        argv: Sequence[str],
        *,
        binds: Sequence[Path],
        env: Mapping[str, str],
        limits: Limits,
        writable: Sequence[Path] = (),
        seccomp_fd: int | None = None,
        keep_uid: bool = False,
    ) -> list[str]: ...


class Bubblewrap:
    name = "bwrap"
    private_pids = True

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def wrap(
        self,
        argv: Sequence[str],
        *,
        binds: Sequence[Path],
        env: Mapping[str, str],
        limits: Limits,
        writable: Sequence[Path] = (),
        seccomp_fd: int | None = None,
        keep_uid: bool = False,
    ) -> list[str]:
        """`argv` confined; `binds` are seen read-only, and `writable` (inside a bind) read-write; the seccomp
        program bwrap reads from `seccomp_fd` applies to everything in the sandbox. With `keep_uid`, a step that
        runs no package code keeps this process's user (to write files it owns), without any capability."""
        cmd = [
            self.executable,
            "--die-with-parent",
            "--new-session",
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            socket.gethostname(),  # the machine's own: a package must not tell it runs in a probe by the name
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        for etc_file in _ETC_FILES:
            cmd += ["--ro-bind-try", etc_file, etc_file]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        cmd += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
        cmd += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]  # POSIX semaphores
        mounted = [Path("/usr")]  # bound trees: their directories are the host's own
        created: set[Path] = set()
        for path in map(Path, binds):
            # bwrap would create the mount point's parents readable by root only; nobody must pass through them.
            for parent in reversed(path.parents[:-1]):
                inside_mount = any(parent == m or m in parent.parents for m in mounted)
                if not inside_mount and parent not in created:
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    created.add(parent)
            cmd += ["--ro-bind", str(path), str(path)]
            mounted.append(path)
        for path in writable:
            cmd += ["--bind", str(path), str(path)]
        if seccomp_fd is not None:
            cmd += ["--seccomp", str(seccomp_fd)]
        cmd += ["--chdir", "/tmp", "--clearenv"]
        for name, value in env.items():
            cmd += ["--setenv", name, value]
        if os.geteuid() == 0:
            # bwrap has bound in what only root can read; from here on the probe is really nobody, with no
            # capabilities and no way back (a user namespace would map "nobody" onto root's files). A step that
            # runs no package code and writes files root owns (compiling bytecode) stays root, but without any
            # capability, so only the owner's permissions on the writable mounts are left.
            user = [] if keep_uid else [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            cmd += ["--", "setpriv", *user, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        else:
            cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--"]
        return cmd + _prlimit(limits) + list(argv)


class Unconfined:
    """No isolation but the limits and a scrubbed environment: only when the operator explicitly allows it."""

    name = "none"
    private_pids = False

    def wrap(
        self,
        argv: Sequence[str],
        *,
        binds: Sequence[Path],
        env: Mapping[str, str],
        limits: Limits,
        writable: Sequence[Path] = (),
        seccomp_fd: int | None = None,
        keep_uid: bool = False,
    ) -> list[str]:
        return _prlimit(limits) + list(argv)


@functools.cache
def _bwrap_works(executable: str) -> str | None:
    """None if bwrap can create its namespaces here, else why not."""
    try:
        done = subprocess.run(
            [
                executable,
                "--unshare-net",
                "--unshare-pid",
                "--ro-bind",
                "/usr",
                "/usr",
                "--dev",
                "/dev",
                "--symlink",
                "usr/bin",
                "/bin",
                "--symlink",
                "usr/lib",
                "/lib",
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--",
                "/usr/bin/true",
            ],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.decode(errors="replace").strip()


def sandbox_for(name: str) -> Sandbox:
    """The sandbox named by the operator's setting ("bwrap" or "none"); refuses a bwrap that cannot work."""
    if name == "none":
        return Unconfined()
    if name != "bwrap":
        raise SandboxUnavailable(f"unknown sandbox {name!r}: use 'bwrap' (the default) or 'none'")
    executable = shutil.which("bwrap")
    if executable is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, and forkaudit will not run package code without a sandbox: "
            "install it (apt-get install bubblewrap), or set FORKAUDIT_SANDBOX=none to accept a weaker one"
        )
    for tool in ("setpriv", "prlimit"):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"{tool} (Debian package util-linux) is not installed")
    problem = _bwrap_works(executable)
    if problem:
        raise SandboxUnavailable(
            f"bubblewrap cannot create its namespaces here ({problem}); allow user namespaces, "
            "or set FORKAUDIT_SANDBOX=none to accept a weaker sandbox"
        )
    return Bubblewrap(executable)


@dataclass(frozen=True)
class Confinement:
    command: list[str]  # runs the argv confined
    fds: tuple[int, ...]  # descriptors the command must be given
    group: ProbeGroup | None  # the control group it runs in, if one could be made

    def memory_killed(self) -> bool:
        """Whether the kernel killed something of it because all of it together reached the memory limit."""
        return self.group is not None and self.group.oom_kills() > 0


@contextlib.contextmanager
def confined_command(
    sandbox: Sandbox,
    argv: Sequence[str],
    *,
    binds: Sequence[Path],
    env: Mapping[str, str],
    limits: Limits,
    writable: Sequence[Path] = (),
    keep_uid: bool = False,
) -> Iterator[Confinement]:
    """How to run `argv` in `sandbox`, valid in the block: the command, its descriptors, and its control group,
    removed with whatever is left in it when the block ends."""
    program = no_user_namespaces_filter() if isinstance(sandbox, Bubblewrap) else None
    fd = filter_fd(program) if program else None
    try:
        with probe_group(limits.memory_bytes, limits.processes) as group:
            command = sandbox.wrap(
                argv, binds=binds, env=env, limits=limits, writable=writable, seccomp_fd=fd, keep_uid=keep_uid
            )
            yield Confinement(group.enter(command) if group else command, () if fd is None else (fd,), group)
    finally:
        if fd is not None:
            os.close(fd)


@dataclass(frozen=True)
class Confined:
    """How a command run in the sandbox ended."""

    returncode: int | None  # None: killed at the wall-clock limit
    output: str  # the last lines it wrote (stdout and stderr)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_confined(
    argv: Sequence[str],
    *,
    sandbox: Sandbox,
    binds: Sequence[Path],
    limits: Limits,
    writable: Sequence[Path] = (),
    keep_uid: bool = False,
    env: Mapping[str, str] | None = None,
    fds: Sequence[int] = (),
    tail_lines: int = 30,
) -> Confined:
    """Run `argv` in `sandbox` to its end or its wall-clock limit (then everything it started is killed); `fds` are
    descriptors it inherits."""
    environment = probe_environment(env)
    confined = confined_command(
        sandbox, argv, binds=binds, env=environment, limits=limits, writable=writable, keep_uid=keep_uid
    )
    # Output goes to a file, which the sandbox's file-size limit caps, rather than into this process's memory.
    with tempfile.TemporaryFile() as output, confined as confinement:
        process = subprocess.Popen(
            confinement.command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(*confinement.fds, *fds),
            start_new_session=True,
            env=environment,
            cwd="/",
        )
        try:
            returncode: int | None = process.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output.seek(max(0, output.seek(0, os.SEEK_END) - 16 * 1024))
        tail = output.read().decode(errors="replace").splitlines()[-tail_lines:]
    return Confined(returncode, "\n".join(tail))
