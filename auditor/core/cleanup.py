"""Removing an audit's work directory without making the audit wait for it.

An environment of 60 distributions is over 10,000 files, and unlinking them takes longer than a repeated
audit's whole answer. So the directory is renamed out of the way at once, and a detached `rm -rf` deletes it while the
caller goes on or exits. A deletion cut short (the machine stopped) leaves a `*.discarded` directory, which the next
`sweep` of its parent hands to `rm` again.

An audit that never reaches its `discard` (killed, or its machine stopped) would leave its whole environment behind,
in memory when the work directory is in /dev/shm. So a directory made by `in_use` is locked by its process while it
works in it; `sweep` deletes such a directory once nobody holds its lock. Directories without that lock (the service's,
whose audits outlive any one process) are left to their owners.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

SUFFIX = ".discarded"
LOCK = ".in-use"  # in a directory made by `in_use`: locked (flock) while its process works there
_MAKING = ".new"  # a directory `in_use` is making: empty, and maybe not locked yet

# The deletions started and not yet seen to end: a long-running worker reaps its own children (a detached `rm` would be
# left to PID 1, which in a container may never reap it).
_running: list[subprocess.Popen[bytes]] = []

logger = logging.getLogger(__name__)


def discard(path: Path) -> None:
    """Remove the directory `path` (gone from its place when this returns, deleted in the background); nothing to do
    when it does not exist."""
    trash = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}{SUFFIX}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    except OSError as exc:  # e.g. the parent is not writable: delete it where it is, and wait for it
        logger.warning("cannot move %s aside (%s); deleting it in place", path, exc)
        shutil.rmtree(path, ignore_errors=True)
        return
    _delete_in_background(trash)


@contextlib.contextmanager
def in_use(path: Path) -> Iterator[Path]:
    """Make the directory `path` (its parents too) and hold it for the block: `sweep` leaves it alone while this
    process lives, and deletes it if the process dies before it is discarded. FileExistsError if it exists."""
    if path.exists():
        raise FileExistsError(f"{path} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Made under another name and locked there, then renamed into place: a sweep never sees it unlocked.
    making = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}{_MAKING}")
    making.mkdir()
    lock = os.open(making / LOCK, os.O_CREAT | os.O_RDWR, 0o600)  # not inherited by the processes it starts
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.rename(making, path)
        yield path
    finally:
        os.close(lock)  # releases the lock, wherever the directory is by now


def sweep(parent: Path) -> None:
    """Delete, in the background, what earlier `discard`s under `parent` left behind, and the directories of `in_use`
    whose process died without discarding them."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.endswith(SUFFIX):
            _delete_in_background(entry)
        elif not entry.name.endswith(_MAKING) and _abandoned(entry):
            discard(entry)


def _abandoned(path: Path) -> bool:
    """Whether `path` was made by `in_use` and nobody holds its lock any more."""
    try:
        lock = os.open(path / LOCK, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:  # no lock there: not ours to judge (or not a directory at all)
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its audit is running
    finally:
        os.close(lock)
    return True


def _delete_in_background(path: Path) -> None:
    _running[:] = [process for process in _running if process.poll() is None]
    try:
        process = subprocess.Popen(
            ["nice", "-n", "19", "rm", "-rf", "--", str(path)],  # whatever runs next comes first
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives us, and a Ctrl-C meant for the audit does not stop it half-way
        )
    except OSError as exc:  # no `nice` or `rm` (or no process left to start): delete it here
        logger.warning("cannot start rm for %s (%s); deleting it here", path, exc)
        shutil.rmtree(path, ignore_errors=True)
        return
    _running.append(process)


def wait_for_deletions(timeout: float) -> None:
    """Wait, up to `timeout` seconds in all, for the background deletions this process started (for a caller that
    needs the space back before it goes on)."""
    deadline = time.monotonic() + timeout
    for process in _running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    _running[:] = [process for process in _running if process.poll() is None]
