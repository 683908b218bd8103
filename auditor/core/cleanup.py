"""Removing an audit's work directory without making the audit wait for it.

An environment of 60 distributions is over 10,000 files, and unlinking them takes longer (0.4 s) than a repeated
audit's whole answer. So the directory is renamed out of the way at once, and a detached `rm -rf` deletes it while the
caller goes on or exits. A deletion cut short (the machine stopped) leaves a `*.discarded` directory, which the next
`sweep` of its parent hands to `rm` again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

SUFFIX = ".discarded"

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


def sweep(parent: Path) -> None:
    """Delete, in the background, what earlier `discard`s under `parent` left behind."""
    try:
        leftovers = [entry for entry in parent.iterdir() if entry.name.endswith(SUFFIX)]
    except OSError:
        return
    for leftover in leftovers:
        _delete_in_background(leftover)


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
