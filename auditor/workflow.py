"""Audits in the service: submit, then prepare, analyse each distribution (on any worker), finish.

Each step is a service function that a thin Celery task calls with ids. Steps are idempotent (conditional UPDATEs
claim the work), so a redelivered task never probes twice nor counts twice. Every machine keeps its own copy of an
audit's environment under `<work root>/<audit id>` (auditor.core.workspace), rebuilt from the stored pins and uploads
when missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from auditor import dispatch
from auditor.core.blame import refuted
from auditor.core.cache import ProbeKey
from auditor.core.cleanup import discard, sweep
from auditor.core.environments import AuditEnvironment, file_owners, installed_distributions, interpreter_info
from auditor.core.findings import Environment, ProbeResult
from auditor.core.inputs import MAX_REQUIREMENT_FILES, InputError, parse_requirements, validate_wheel_set
from auditor.core.inputs.locks import marker_environment
from auditor.core.integrity import intact_distributions
from auditor.core.pipeline import (
    AuditFailed,
    AuditInput,
    AuditOptions,
    Prepared,
    analyse_distribution,
    build_environment,
    build_report,
    default_python,
    distribution_report,
    importers_of,
    install_failure,
    lookup_key,
    private_origins,
    probe_key,
    resolve_input,
    stage_wheels,
)
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.sandbox import SandboxUnavailable, sandbox_for
from auditor.core.resolve import Resolution, ResolutionError, lock_pins
from auditor.core.verdicts import probe_verdict
from auditor.core.vulns import pip_audit_source
from auditor.core.workspace import work_root
from auditor.models import Audit, AuditDistribution, AuditUpload, ProbeClaim, ProbeRecord, probe_record_key
from auditor.selectors import probe_record_get
from auditor.services import (
    audit_create,
    audit_distribution_complete,
    audit_graph_store,
    audit_mark_done,
    audit_mark_failed,
    audit_mark_running,
)
from auditor.store import DatabaseResultStore

logger = logging.getLogger(__name__)


def audit_submit(
    *,
    owner: Any,
    requirements: Sequence[tuple[str, bytes]] = (),
    wheels: Sequence[tuple[str, bytes]] = (),
    shallow: bool = False,
) -> Audit:
    """Validate the input and queue an audit of it. Raises InputError with a message for the user.

    `requirements` are (file name, content) pairs, the first being the main file and the others what it may
    include with -r/-c; `wheels` are (file name, content) pairs. Exactly one of the two must be given.
    """
    if bool(requirements) == bool(wheels):
        raise InputError("give requirements or wheels (one of the two)")
    if len(requirements) > MAX_REQUIREMENT_FILES:
        raise InputError(f"at most {MAX_REQUIREMENT_FILES} requirements files")
    if requirements:
        files = dict(requirements)
        if len(files) != len(requirements):
            raise InputError("two requirements files have the same name")
        main = requirements[0][0]
        parse_requirements(files, main=main, allow_external=settings.FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS)
        kind, text = Audit.InputKind.REQUIREMENTS, requirements[0][1].decode()
    else:
        with tempfile.TemporaryDirectory() as directory:
            paths = []
            for name, content in wheels:
                if "/" in name or "\\" in name or name in ("", ".", ".."):
                    raise InputError(f"not a wheel file name: {name!r}")
                path = Path(directory) / name
                path.write_bytes(content)
                paths.append(path)
            validate_wheel_set(paths)
        kind, text = Audit.InputKind.WHEELS, json.dumps([name for name, _ in wheels])
    upload_kind = AuditUpload.Kind.REQUIREMENTS if requirements else AuditUpload.Kind.WHEEL
    options = {"shallow": bool(shallow), "input": _input_fingerprint(requirements or wheels, shallow=bool(shallow))}
    with transaction.atomic():
        audit = audit_create(owner=owner, input_kind=kind, input_text=text, options=options)
        AuditUpload.objects.bulk_create(
            AuditUpload(
                audit=audit,
                kind=upload_kind,
                filename=name,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
            )
            for name, content in (requirements or wheels)
        )
    try:
        finished = _finish_known(audit)
    except Exception:  # a shortcut must never cost a submission: the worker does the audit as usual
        logger.warning("audit %s could not be finished at once", audit.pk, exc_info=True)
        finished = False
    if not finished:
        transaction.on_commit(lambda: dispatch.enqueue("auditor.tasks.prepare_audit", audit.pk))
    audit.refresh_from_db()
    return audit


# --- an input audited before: finished at once ---------------------------------------------------------------------


def _input_fingerprint(files: Sequence[tuple[str, bytes]], *, shallow: bool) -> str:
    """What decides an input's resolution, hashed: its files, and the settings and the interpreter it is resolved
    for. Two audits with the same fingerprint resolve alike when the input pins every distribution it needs."""
    digest = hashlib.sha256()
    for name, content in files:
        digest.update(f"{len(name)}:{name}:{len(content)}:".encode())
        digest.update(content)
    try:
        interpreter = interpreter_info(settings.FORKAUDIT_PYTHON or default_python())
    except OSError:
        return ""  # no interpreter to key results by here: never finished at once (the worker reports the problem)
    resolving = {k: v for k, v in sorted(os.environ.items()) if k.startswith("UV_")}  # the index uv asks
    context = [shallow, interpreter.version, interpreter.platform, settings.FORKAUDIT_BUILD_SOURCES, resolving]
    digest.update(json.dumps(context, sort_keys=True).encode())
    return digest.hexdigest()


def _finish_known(audit: Audit) -> bool:
    """Finish an audit in the submitting request when nothing is left to do: the same input was audited before, it
    can only resolve to what it pins, and the database has every pin's result. Saves the task round trip (the
    embedded broker's poll) that a repeat would otherwise wait for. False when a worker must do the audit."""
    earlier = _earlier_resolution(audit)
    if earlier is None:
        return False
    options = audit_options(audit)
    interpreter = interpreter_info(options.python)
    for name, version in earlier["pins"].items():
        key = lookup_key(name, version, interpreter=interpreter, options=options, origins={})
        if _stored(key, audit) is None:
            return False
    if not audit_mark_running(audit_id=audit.pk):
        return False
    audit_graph_store(audit_id=audit.pk, graph=earlier)
    Audit.objects.filter(pk=audit.pk).update(options={**audit.options, "origins": {}})
    if _complete_stored(audit, options=options, origins={}):
        return False  # a result vanished meanwhile: the prepare task hands out what is left, as after a redelivery
    return audit_finish(audit_id=audit.pk)


def _earlier_resolution(audit: Audit) -> dict[str, Any] | None:
    """The graph of a finished audit of the same input, if that input can only resolve to itself (every
    distribution pinned to one version: a lock, `pip freeze`)."""
    if audit.input_kind != Audit.InputKind.REQUIREMENTS or not audit.options.get("input"):
        return None
    earlier = (
        Audit.objects.filter(status=Audit.Status.DONE, options__input=audit.options["input"])
        .exclude(graph=None)
        .order_by("-finished")
        .values_list("graph", flat=True)
        .first()
    )
    if not earlier or not earlier.get("pins"):
        return None
    try:
        audit_input = _audit_input(audit, _workdir(audit.pk))
        requirements = list(audit_input.requirements)
        if audit_input.lock is not None:
            requirements += audit_input.lock.select(marker_environment(audit_options(audit).python)).requirements
    except (InputError, OSError, ValueError):
        return None
    if lock_pins(requirements) != earlier["pins"]:
        return None  # a range, or a dependency the input does not pin: the index may answer otherwise now
    return dict(earlier)


# --- running an audit ---------------------------------------------------------------------------------------------


def audit_options(audit: Audit) -> AuditOptions:
    extra = {"python": settings.FORKAUDIT_PYTHON} if settings.FORKAUDIT_PYTHON else {}
    return AuditOptions(
        shallow=bool(audit.options.get("shallow")),
        timeout=float(settings.FORKAUDIT_PROBE_TIMEOUT),
        jobs=os.cpu_count() or 1,  # processes of the static scan of a large distribution
        build=settings.FORKAUDIT_BUILD_SOURCES,
        sandbox=settings.FORKAUDIT_SANDBOX,
        owner_tag=str(audit.owner_id or "local"),
        **extra,
    )


def _workdir(audit_id: uuid.UUID | str) -> Path:
    return work_root(settings.FORKAUDIT_WORK_DIR, Path(settings.FORKAUDIT_DATA_DIR)) / str(audit_id)


def _audit_input(audit: Audit, workdir: Path) -> AuditInput:
    uploads = list(audit.uploads.all())
    if audit.input_kind == Audit.InputKind.WHEELS:
        wheel_dir = workdir / "uploads"
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


def audit_prepare(*, audit_id: uuid.UUID | str) -> list[int]:
    """Claim a queued audit, resolve it, and record its distributions; the ids of those left to analyse.

    Distributions whose results the database already has are completed on the spot.
    """
    audit = Audit.objects.filter(pk=audit_id).first()
    if audit is None or audit.status in (Audit.Status.DONE, Audit.Status.FAILED):
        return []
    if audit.status == Audit.Status.RUNNING and audit.graph:
        # A redelivery after the worker died past this point: hand out what is still pending.
        pending_ids = list(
            AuditDistribution.objects.filter(audit_id=audit_id, status=AuditDistribution.Status.PENDING).values_list(
                "pk", flat=True
            )
        )
        if not pending_ids:  # every distribution was done, but the worker died before it finished the audit
            audit_finish(audit_id=audit_id)
        return pending_ids
    if audit.status == Audit.Status.QUEUED and not audit_mark_running(audit_id=audit_id):
        return []  # claimed by another delivery of this task at the same moment
    workdir = _workdir(audit_id)
    sweep(workdir.parent)
    try:
        audit_input = _audit_input(audit, workdir)
        options = audit_options(audit)
        sandbox_for(options.sandbox)  # refuse early, before any work, when the sandbox cannot run
        resolution = resolve_input(audit_input, workdir=workdir, options=options)
    except (ResolutionError, InputError) as exc:
        error = f"the requirements cannot be resolved: {exc.readable if isinstance(exc, ResolutionError) else exc}"
        audit_mark_failed(audit_id=audit_id, error=error, code=_failure_code(exc))
        discard(workdir)  # no analysis was handed out yet: nothing else uses it (it may be in memory)
        return []
    except (AuditFailed, SandboxUnavailable, OSError) as exc:
        audit_mark_failed(audit_id=audit_id, error=f"the audit could not be completed: {exc}", code=_failure_code(exc))
        discard(workdir)
        return []
    graph = resolution.to_dict()
    audit_graph_store(audit_id=audit_id, graph=graph)
    origins = private_origins(audit_input.wheels, owner_tag=options.owner_tag, resolution=resolution)
    Audit.objects.filter(pk=audit_id).update(options={**audit.options, "origins": origins})
    pending = _complete_stored(audit, options=options, origins=origins)
    if not pending:
        audit_finish(audit_id=audit_id)
    return pending


def _complete_stored(audit: Audit, *, options: AuditOptions, origins: dict[str, str]) -> list[int]:
    """Complete the pending distributions whose results the database has (they need no environment and no task);
    the ids of the others."""
    interpreter = interpreter_info(options.python)
    pending = []
    for distribution in AuditDistribution.objects.filter(audit_id=audit.pk, status=AuditDistribution.Status.PENDING):
        key = lookup_key(
            distribution.name, distribution.version, interpreter=interpreter, options=options, origins=origins
        )
        record = _stored(key, audit)
        if record is not None:
            audit_distribution_complete(audit_distribution_id=distribution.pk, probe=record, cached=True)
        else:
            pending.append(distribution.pk)
    return pending


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _environment(audit: Audit, options: AuditOptions) -> Prepared:
    """This machine's copy of the audit's environment: built once (under a file lock) from the stored pins, then
    found again by every task on this machine from what the first one wrote down."""
    workdir = _workdir(audit.pk)
    resolution = Resolution.from_dict(audit.graph)
    with _locked(workdir / ".lock"):
        state_file = workdir / "environment.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        if state is not None and state["env"].keys() == {f.name for f in dataclasses.fields(AuditEnvironment)}:
            env = AuditEnvironment(**{k: Path(v) if k in _PATHS else v for k, v in state["env"].items()})
            distributions, problems = intact_distributions(env, installed_distributions(env), resolution.pins)
            return Prepared(env, resolution, distributions, {**state["install_errors"], **problems})
        stage_wheels(_audit_input(audit, workdir).wheels, workdir)
        prepared = build_environment(resolution, workdir=workdir, options=options)
        env_state = {k: str(v) for k, v in dataclasses.asdict(prepared.env).items()}
        state_file.write_text(json.dumps({"env": env_state, "install_errors": prepared.install_errors}))
        return prepared


_PATHS = {"root", "python", "site_packages", "base_prefix", "interpreter"}


class ProbeInProgress(Exception):
    """Another worker is probing the same distribution version right now: try again shortly."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid()) or ''}"


def _process_start(pid: int | str) -> str | None:
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
    """Claim the probe of `key`, or raise ProbeInProgress while a live claim of another worker holds it."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    try:
        ProbeClaim.objects.create(key=digest, holder=_holder())
        return digest
    except IntegrityError:
        pass
    claim = ProbeClaim.objects.filter(key=digest).first()
    if claim is not None and not _claim_is_dead(claim, stale_after):
        raise ProbeInProgress(key.name)
    # The holder died (a killed worker) or took far too long: take the claim over, if nobody else did first.
    taken = ProbeClaim.objects.filter(key=digest, holder=claim.holder if claim else "").update(
        holder=_holder(), claimed=timezone.now()
    )
    if claim is not None and not taken:
        raise ProbeInProgress(key.name)
    if claim is None:
        return _claim(key, stale_after=stale_after)
    return digest


def _claim_is_dead(claim: ProbeClaim, stale_after: timedelta) -> bool:
    host, pid, started = (claim.holder.split(":", 2) + ["", ""])[:3]
    if host == socket.gethostname() and pid.isdigit():
        running_since = _process_start(pid)
        if running_since is None or (started and running_since != started):
            return True
    return timezone.now() - claim.claimed > stale_after


def audit_analyse(*, audit_distribution_id: int) -> None:
    """Analyse one distribution of a running audit (or reuse its stored result) and count it done.

    Raises ProbeInProgress when another worker is probing the same version: the task retries later.
    """
    distribution = (
        AuditDistribution.objects.select_related("audit", "audit__owner").filter(pk=audit_distribution_id).first()
    )
    if distribution is None:
        return
    if distribution.status == AuditDistribution.Status.DONE:
        # A redelivery: if the worker died between completing the last distribution and finishing, finish now.
        audit_finish(audit_id=distribution.audit_id)
        return
    audit = distribution.audit
    if audit.status != Audit.Status.RUNNING:
        return
    options = audit_options(audit)
    store = DatabaseResultStore(verdict_of=_verdict, owner=audit.owner)
    try:
        prepared = _environment(audit, options)
        sandbox = sandbox_for(options.sandbox)
    except (AuditFailed, SandboxUnavailable, OSError) as exc:
        audit_mark_failed(audit_id=audit.pk, error=f"the audit could not be completed: {exc}", code=_failure_code(exc))
        return
    dist = next((d for d in prepared.distributions if d.name == distribution.name), None)
    if dist is None:
        error = prepared.install_errors.get(distribution.name, "it was not installed")
        AuditDistribution.objects.filter(pk=distribution.pk).update(error=error[:10_000])
        audit_distribution_complete(audit_distribution_id=distribution.pk, probe=None, cached=False)
    else:
        key = probe_key(dist, prepared.env, options, audit.options.get("origins", {}))
        record, cached = _stored(key, audit), True
        if record is None:
            digest = _claim(key, stale_after=timedelta(seconds=options.timeout * 30 + 600))
            try:
                record, cached = _stored(key, audit), True  # finished by another worker while we waited
                if record is None:
                    attributor = Attributor(
                        file_owners(prepared.env, prepared.distributions),
                        prepared.env.site_packages,
                        {d.name: d.version for d in prepared.distributions},
                    )
                    result = analyse_distribution(
                        dist,
                        env=prepared.env,
                        attributor=attributor,
                        sandbox=sandbox,
                        options=options,
                        importers=importers_of(dist.name, prepared.resolution, prepared.distributions),
                    )
                    store.put(key, result)
                    record, cached = _stored(key, audit), False
            finally:
                ProbeClaim.objects.filter(key=digest).delete()
        audit_distribution_complete(audit_distribution_id=distribution.pk, probe=record, cached=cached)
    audit_finish(audit_id=audit.pk)


def _verdict(result: ProbeResult) -> str:
    return str(probe_verdict(result))


def _stored(key: ProbeKey, audit: Audit) -> ProbeRecord | None:
    record = probe_record_get(key=key)
    if record is not None and not record.is_public and record.owner_id != audit.owner_id:
        return None
    return record


def audit_finish(*, audit_id: uuid.UUID | str) -> bool:
    """Build and store the report once every distribution is done; False while some are still pending."""
    if AuditDistribution.objects.filter(audit_id=audit_id, status=AuditDistribution.Status.PENDING).exists():
        return False
    audit = Audit.objects.get(pk=audit_id)
    if audit.status != Audit.Status.RUNNING:
        return False
    resolution = Resolution.from_dict(audit.graph)
    sandbox = settings.FORKAUDIT_SANDBOX
    python, platform = "", ""
    distributions = list(audit.distributions.select_related("probe"))
    results = {}
    for distribution in distributions:
        if distribution.probe is not None:
            results[distribution.name] = ProbeResult.from_dict(distribution.probe.result)
            python, platform = distribution.probe.python, distribution.probe.platform
            sandbox = results[distribution.name].sandbox
        else:
            results[distribution.name] = install_failure(
                distribution.name, distribution.version, distribution.error, sandbox
            )
    # Blame that other probes do not bear out (auditor.core.blame): the claimant's own, in the report, and in the
    # store for what this audit probed (a result reused from another audit is that audit's to correct).
    for name, result in refuted(results).items():
        distribution = next(d for d in distributions if d.name == name)
        if not distribution.cached:
            record = distribution.probe
            DatabaseResultStore(verdict_of=_verdict, owner=record.owner).put(probe_record_key(record), result)
        results[name] = result
    reports = [distribution_report(results[d.name], resolution=resolution, cached=d.cached) for d in distributions]
    vulnerabilities, problem = pip_audit_source(dict(resolution.pins), service=settings.FORKAUDIT_VULNERABILITY_SERVICE)
    if vulnerabilities:
        reports = [
            dataclasses.replace(r, findings=r.findings + tuple(vulnerabilities.get(r.name, ()))) for r in reports
        ]
    report = build_report(
        reports,
        environment=Environment(python=python, platform=platform, sandbox=sandbox),
        errors=[problem] if problem else [],
    )
    finished = audit_mark_done(audit_id=audit_id, report=report)
    if finished:
        discard(_workdir(audit_id))
    return finished


def _failure_code(exc: Exception) -> Audit.FailureCode:
    """The code of a failure, from the step that raised it: the input's fault, or the server's."""
    if isinstance(exc, InputError):
        return Audit.FailureCode.BAD_INPUT
    if isinstance(exc, ResolutionError):
        return Audit.FailureCode.RESOLUTION_FAILED
    if isinstance(exc, AuditFailed):
        return Audit.FailureCode.INSTALL_FAILED
    if isinstance(exc, SandboxUnavailable):
        return Audit.FailureCode.SANDBOX_UNAVAILABLE
    return Audit.FailureCode.INTERNAL  # the worker's machine (OSError) or a bug


# --- what no step expected -----------------------------------------------------------------------------------------

_MAX_REASON_CHARS = 2_000


def audit_fail_unexpectedly(*, audit_id: uuid.UUID | str, error: Exception) -> bool:
    """Mark a queued or running audit failed after `error`, which none of its steps expected (a bug, a corrupt
    record): its owner reads the error's type and message, the operator's log has the traceback. Without this the
    audit would stay `running` for ever. False if it had already finished or does not exist."""
    logger.error("audit %s failed on an unexpected error", audit_id, exc_info=error)
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if len(reason) > _MAX_REASON_CHARS:
        reason = reason[: _MAX_REASON_CHARS - 1] + "…"
    error = f"the audit could not be completed: an internal error ({reason})"
    return audit_mark_failed(audit_id=audit_id, error=error, code=Audit.FailureCode.INTERNAL)


def audit_distribution_fail_unexpectedly(*, audit_distribution_id: int, error: Exception) -> bool:
    """`audit_fail_unexpectedly` for the audit that distribution `audit_distribution_id` belongs to."""
    audit_id = AuditDistribution.objects.filter(pk=audit_distribution_id).values_list("audit_id", flat=True).first()
    if audit_id is None:
        logger.error(
            "audit distribution %s (gone) failed on an unexpected error", audit_distribution_id, exc_info=error
        )
        return False
    return audit_fail_unexpectedly(audit_id=audit_id, error=error)
