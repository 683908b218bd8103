"""Probe claims: one worker at a time probes a distribution version, whichever machine it runs on.

A claim is a row keyed by the result's key, held by `host:pid:start` (the start time tells a live process from a
later one given the same pid). A claim whose holder died, or that is far older than any probe takes, is taken over.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.db import IntegrityError
from django.utils import timezone

from auditor.core.cache import ProbeKey
from auditor.models import ProbeClaim


class ProbeInProgress(Exception):
    """Another worker is probing the same distribution version right now: try again shortly."""


@contextlib.contextmanager
def claimed(key: ProbeKey, *, stale_after: timedelta) -> Iterator[None]:
    """Hold the claim of `key` while the block runs; ProbeInProgress while another worker's live claim holds it."""
    digest = _claim(key, stale_after=stale_after)
    try:
        yield
    finally:
        ProbeClaim.objects.filter(key=digest).delete()


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid()) or ''}"


def process_start(pid: int | str) -> str | None:
    """When process `pid` started (clock ticks since boot), None if there is no such process. With the pid it names
    one process even when the pid is reused: a restarted container's worker often gets its predecessor's pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may contain spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie is dead: only its parent has not reaped it yet
        return None
    return fields[19]


def _claim(key: ProbeKey, *, stale_after: timedelta) -> str:
    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    try:
        ProbeClaim.objects.create(key=digest, holder=holder())
        return digest
    except IntegrityError:
        pass
    claim = ProbeClaim.objects.filter(key=digest).first()
    if claim is not None and not claim_is_dead(claim, stale_after):
        raise ProbeInProgress(key.name)
    # The holder died (a killed worker) or took far too long: take the claim over, if nobody else did first.
    taken = ProbeClaim.objects.filter(key=digest, holder=claim.holder if claim else "").update(
        holder=holder(), claimed=timezone.now()
    )
    if claim is not None and not taken:
        raise ProbeInProgress(key.name)
    if claim is None:
        return _claim(key, stale_after=stale_after)
    return digest


def claim_is_dead(claim: ProbeClaim, stale_after: timedelta) -> bool:
    host, pid, started = (claim.holder.split(":", 2) + ["", ""])[:3]
    if host == socket.gethostname() and pid.isdigit():
        running_since = process_start(pid)
        if running_since is None or (started and running_since != started):
            return True
    return timezone.now() - claim.claimed > stale_after
