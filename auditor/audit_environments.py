"""This machine's copy of an audit's environment, for the service's tasks on any worker.

Every machine keeps its own copy under `<work root>/<audit id>` (auditor.core.workspace): the uploads written out,
the environment built once from the stored pins (under a file lock), and what the first task wrote down about it,
which every later task on this machine reads instead of building again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from auditor.core.environments import AuditEnvironment
from auditor.core.inputs import parse_requirements
from auditor.core.pipeline import AuditInput, AuditOptions, Prepared, build_environment, examined, stage_wheels
from auditor.core.resolve import Resolution
from auditor.core.workspace import work_root
from auditor.models import Audit, AuditDistribution

_PATHS = {"root", "python", "site_packages", "base_prefix", "interpreter"}  # AuditEnvironment's Path fields


def workdir(audit_id: uuid.UUID | str) -> Path:
    return work_root(settings.FORKAUDIT_WORK_DIR, Path(settings.FORKAUDIT_DATA_DIR)) / str(audit_id)


def audit_input(audit: Audit, directory: Path) -> AuditInput:
    """The audit's input from its stored uploads: its requirement files parsed, its wheels written to `directory`."""
    uploads = list(audit.uploads.all())
    if audit.input_kind == Audit.InputKind.WHEELS:
        wheel_dir = directory / "uploads"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for upload in uploads:
            path = wheel_dir / upload.filename
            path.write_bytes(bytes(upload.content))
            paths.append(path)
        return AuditInput(wheels=tuple(paths))
    files = {u.filename: bytes(u.content) for u in uploads}
    parsed = parse_requirements(
        files, main=uploads[0].filename, allow_external=settings.FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS
    )
    return AuditInput(
        requirements=parsed.options + parsed.requirements,
        constraints=parsed.constraints,
        prereleases=parsed.prereleases,
        lock=parsed.lock,
    )


def prepared_environment(audit: Audit, options: AuditOptions) -> Prepared:
    """This machine's copy of the audit's environment: built once from the stored pins, then found again by every
    task on this machine from what the first one wrote down (and checked: intact_distributions), once per process."""
    directory = workdir(audit.pk)
    resolution = Resolution.from_dict(audit.graph)
    with _locked(directory / ".lock"):
        state_file = directory / "environment.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        if state is not None and state["env"].keys() == {f.name for f in dataclasses.fields(AuditEnvironment)}:
            known = _examined.get(directory, _identity(state_file))
            if known is not None:
                return known
            env = AuditEnvironment(**{k: Path(v) if k in _PATHS else v for k, v in state["env"].items()})
            # Found by the task that built it: not again by every task (an environment written before has none).
            prepared = examined(env, resolution, state["install_errors"], carried=state.get("carried"))
        else:
            stage_wheels(audit_input(audit, directory).wheels, directory)
            pending = AuditDistribution.objects.filter(audit_id=audit.pk, status=AuditDistribution.Status.PENDING)
            probed = set(pending.values_list("name", flat=True))
            prepared = build_environment(resolution, workdir=directory, options=options, probed=probed)
            env_state = {k: str(v) for k, v in dataclasses.asdict(prepared.env).items()}
            state = {"env": env_state, "install_errors": prepared.install_errors, "carried": prepared.carried}
            written = directory / "environment.json.new"
            written.write_text(json.dumps(state))
            written.replace(state_file)  # another file: a build again is never taken for the one examined before
        _examined.put(directory, _identity(state_file), prepared)
        return prepared


def forget_environment(audit_id: uuid.UUID | str) -> None:
    """The audit is over: this process's note of its environment goes (what a later task would need is built
    again)."""
    _examined.forget(workdir(audit_id))


class _Examined:
    """The environments this process examined, one per audit directory, with the identity of the state file their
    build wrote: every later task of the audit in this process finds its environment as it was (the probes see it
    read-only; a build again writes another file), and need not read every RECORD again. The most recent few, for
    the audits in flight; an audit that ends here is forgotten at once."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._known: OrderedDict[Path, tuple[tuple[int, ...], Prepared]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, directory: Path, identity: tuple[int, ...]) -> Prepared | None:
        with self._lock:
            known = self._known.get(directory)
            if known is None or known[0] != identity:
                return None
            self._known.move_to_end(directory)
            return known[1]

    def put(self, directory: Path, identity: tuple[int, ...], prepared: Prepared) -> None:
        with self._lock:
            self._known[directory] = (identity, prepared)
            self._known.move_to_end(directory)
            while len(self._known) > self._size:
                self._known.popitem(last=False)

    def forget(self, directory: Path) -> None:
        with self._lock:
            self._known.pop(directory, None)


_examined = _Examined(size=16)


def _identity(path: Path) -> tuple[int, ...]:
    status = path.stat()
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
