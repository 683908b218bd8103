"""Memory and process limits for everything a probe starts together, in a control group of the probe's own.

rlimits hold per process: three forked children may each use the whole address-space limit, and memory that is not
mapped (memfds, tmpfs pages) counts against none. A control group counts all of it. Each probe gets a group under
the one forkaudit itself runs in (never elsewhere), with `memory` and `pids` limits: cgroup v2 where the host has it,
else cgroup v1's `memory` and `pids` hierarchies. The sandbox's process enters the group before bwrap starts (a
shell writes itself into `cgroup.procs`, then execs bwrap), so nothing of the probe runs outside it.

Where no group can be made (no permission, v2 with processes in forkaudit's own group, no controller), the rlimits
alone hold, and every result says which limits held (`LIMITS_PER_PROBE` or `LIMITS_PER_PROCESS`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shlex
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LIMITS_PER_PROBE = "memory and processes per probe (cgroup)"
LIMITS_PER_PROCESS = "memory and processes per process (rlimits only: no cgroup could be made)"


@dataclass(frozen=True)
class Hierarchy:
    """Where forkaudit's own group is in one cgroup hierarchy, and how limits are written there."""

    own: Path  # the directory of the group forkaudit runs in
    memory_files: tuple[str, ...]  # the files that take the memory limit ("memory.max"; v1 also swap)
    pids_file: str | None
    oom_file: str | None  # the file with an `oom_kill N` line


@functools.cache
def hierarchies() -> tuple[Hierarchy, ...]:
    """forkaudit's own groups that can hold probe groups with memory and pids limits; () if there are none."""
    try:
        membership = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ()
    v1, v2 = {}, None
    for line in membership:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2 = path
        for controller in controllers.split(","):
            if controller in ("memory", "pids"):
                v1[controller] = path
    roots = _mount_points(mounts)
    if "memory" in v1 and "pids" in v1 and "memory" in roots and "pids" in roots:
        memory = _own(roots["memory"], v1["memory"])
        pids = _own(roots["pids"], v1["pids"])
        swap = ("memory.memsw.limit_in_bytes",) if (memory / "memory.memsw.limit_in_bytes").exists() else ()
        found: tuple[Hierarchy, ...] = (
            Hierarchy(memory, ("memory.limit_in_bytes", *swap), None, "memory.oom_control"),
            Hierarchy(pids, (), "pids.max", None),
        )
    elif v2 is not None and "unified" in roots:
        own = _own(roots["unified"], v2)
        found = (Hierarchy(own, ("memory.max", "memory.swap.max"), "pids.max", "memory.events"),)
        if not _delegate_v2(own):
            return ()
    else:
        return ()
    return found if _usable(found) else ()


def _mount_points(mountinfo: Sequence[str]) -> dict[str, Path]:
    roots: dict[str, Path] = {}
    for line in mountinfo:
        fields = line.split()
        if " - " not in line:
            continue
        fstype, _, options = line.split(" - ", 1)[1].split()[:3]
        if fstype == "cgroup2":
            roots.setdefault("unified", Path(fields[4]))
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in ("memory", "pids"):
                    roots.setdefault(option, Path(fields[4]))
    return roots


def _own(root: Path, path: str) -> Path:
    own = root / path.lstrip("/")
    return own if own.is_dir() else root  # a cgroup namespace shows its root as "/"


def _delegate_v2(own: Path) -> bool:
    """Make memory and pids available to groups under `own` (v2: only possible while `own` holds no process)."""
    try:
        enabled = (own / "cgroup.subtree_control").read_text().split()
        if {"memory", "pids"} <= set(enabled):
            return True
        (own / "cgroup.subtree_control").write_text("+memory +pids")
        return True
    except OSError:
        return False


def _usable(found: Sequence[Hierarchy]) -> bool:
    """Whether a probe group can be made and removed here (a trial group, made once per process)."""
    try:
        with _made(found) as groups:
            return all(group.is_dir() for group in groups)
    except OSError:
        return False


@contextlib.contextmanager
def _made(found: Sequence[Hierarchy]) -> Iterator[list[Path]]:
    # Random, not a per-process counter: a killed process leaves its groups behind, and a later process given the
    # same pid would start its count again on their names.
    name = f"forkaudit-probe-{os.getpid()}-{secrets.token_hex(8)}"
    groups: list[Path] = []
    try:
        for hierarchy in found:
            group = hierarchy.own / name
            group.mkdir()
            groups.append(group)
        yield groups
    finally:
        for group in reversed(groups):
            _remove(group)


@dataclass
class ProbeGroup:
    """A probe's control groups: the command prefix that enters them, and whether the kernel killed for memory."""

    groups: list[Path]
    hierarchies: tuple[Hierarchy, ...]

    def enter(self, command: Sequence[str]) -> list[str]:
        procs = " && ".join(f"echo $$ > {shlex.quote(str(g / 'cgroup.procs'))}" for g in self.groups)
        return ["/bin/sh", "-c", f'{procs} && exec "$@"', "sh", *command]

    def oom_kills(self) -> int:
        total = 0
        for group, hierarchy in zip(self.groups, self.hierarchies, strict=True):
            if hierarchy.oom_file is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                for line in (group / hierarchy.oom_file).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        total += int(value)
        return total


@contextlib.contextmanager
def probe_group(memory_bytes: int, processes: int) -> Iterator[ProbeGroup | None]:
    """A control group with these limits for one probe, removed afterwards (everything left in it killed); None
    where groups cannot be made here."""
    found = hierarchies()
    if not found:
        yield None
        return
    with _made(found) as groups:
        for group, hierarchy in zip(groups, found, strict=True):
            for name in hierarchy.memory_files:
                with contextlib.suppress(OSError):  # swap accounting may be off
                    (group / name).write_text(str(memory_bytes))
            if hierarchy.pids_file:
                (group / hierarchy.pids_file).write_text(str(processes))
        yield ProbeGroup(groups, found)


def limits_description() -> str:
    return LIMITS_PER_PROBE if hierarchies() else LIMITS_PER_PROCESS


def _remove(group: Path) -> None:
    """Remove a probe's group, killing whatever is still in it (the sandbox is already being killed)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return  # left for the operator to see: never an error of the audit
        with contextlib.suppress(OSError, ValueError):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.01)
