"""Where audits build their environments: in memory when the machine has room for them, else in the data directory.

An audit's environment is over 10,000 files that live only as long as the audit. On a disk, uv's install of them
(one hard link each) and their deletion are kernel work that grows with the file system's journal and `discard`:
several times what they cost in a tmpfs (bench/README.md, finding 26), which also makes the deletion
nearly free. So unless the operator names a directory (`FORKAUDIT_WORK_DIR`), audits work in a private directory in
`/dev/shm` when that is a tmpfs with room to spare; a container's 64 MB `/dev/shm` or a machine short of memory keeps
them on disk.

`/dev/shm` is shared by every user of the machine: the directory there must be ours alone (created 0700, not a link,
owned by us, writable by nobody else). Another user's directory in its place could read the audit's private wheels or
change what is installed before it is probed, so anything else is refused and the data directory used instead.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from pathlib import Path

MEMORY = Path("/dev/shm")
MIN_FREE = 4 * 2**30  # bytes free both in the tmpfs and in memory: a large environment (torch) is a few GB

logger = logging.getLogger(__name__)


@functools.cache
def work_root(configured: str, data_dir: Path) -> Path:
    """The directory this process's audits work in (each in a subdirectory of its own), decided once per process so
    that every task of an audit finds its environment again: `configured` when set, else `choose_work_root`."""
    if configured:
        return Path(configured)
    return choose_work_root(data_dir)


def choose_work_root(data_dir: Path, *, memory: Path = MEMORY, min_free: int = MIN_FREE) -> Path:
    """A private directory in the tmpfs `memory` when it has `min_free` bytes free and so has the machine's memory,
    else `data_dir/work`."""
    return _in_memory(memory, min_free) or data_dir / "work"


def _in_memory(memory: Path, min_free: int) -> Path | None:
    if not _is_tmpfs(memory):
        return None
    try:
        space = os.statvfs(memory)
    except OSError:
        return None
    if space.f_bavail * space.f_frsize < min_free or _available_memory() < min_free:
        return None
    private = private_directory(memory / f"forkaudit-{os.geteuid()}")
    return private / "work" if private else None


def private_directory(path: Path) -> Path | None:
    """`path`, created 0700 if missing, if it is a directory of this user's that nobody else can write or read into;
    else None (and a warning). For what must not be shared in a place every user can write to (/dev/shm, /tmp)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        logger.warning("cannot create %s (%s); not using it", path, exc)
        return None
    try:
        found = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
        logger.warning("%s is not a private directory of this user; not using it", path)
        return None
    return path


def _is_tmpfs(path: Path) -> bool:
    """Whether `path` is itself the mount point of a tmpfs (the last mount there is the one that counts)."""
    fstype = None
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3 and fields[1] == str(path):
                    fstype = fields[2]
    except OSError:
        return False
    return fstype == "tmpfs"


def _available_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
