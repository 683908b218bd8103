"""Audits in the service: submit, then prepare, analyse each distribution (on any worker), finish.

The steps are the pipeline's own (auditor.core.pipeline: `resolve_input`, `analyse_distribution`, `finish_report`),
the same the CLI's `run_audit` runs in one process: here each is a function that a thin Celery task calls with ids.
Steps are idempotent (conditional UPDATEs claim the work), so a redelivered task never probes twice nor counts
twice. Each machine's copy of an audit's environment is auditor.audit_environments'; who probes a version is
auditor.claims'; every write goes through auditor.services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from auditor import dispatch
from auditor.audit_environments import audit_input, forget_environment, prepared_environment, workdir
from auditor.claims import claimed
from auditor.core.cache import ProbeKey
from auditor.core.cleanup import discard, sweep
from auditor.core.environments import import_names, interpreter_info
from auditor.core.findings import Environment, ProbeResult
from auditor.core.inputs import MAX_REQUIREMENT_FILES, InputError, parse_requirements, validate_wheel_set
from auditor.core.inputs.locks import marker_environment
from auditor.core.pipeline import (
    AuditFailed,
    AuditOptions,
    analyse_distribution,
    default_python,
    finish_report,
    importers_of,
    install_failure,
    installed_key,
    pin_key,
    private_origins,
    resolve_input,
)
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.runner import Cores, available_cores
from auditor.core.probe.sandbox import SandboxUnavailable, sandbox_for
from auditor.core.resolve import Resolution, ResolutionError, lock_pins
from auditor.core.verdicts import probe_verdict
from auditor.core.vulns import pip_audit_source
from auditor.models import Audit, AuditDistribution, AuditUpload, ProbeRecord, probe_record_key
from auditor.options import audit_options as options_from_settings
from auditor.selectors import probe_record_for
from auditor.services import (
    audit_create,
    audit_distribution_complete,
    audit_distribution_probing,
    audit_graph_store,
    audit_mark_done,
    audit_mark_failed,
    audit_mark_running,
)
from auditor.store import DatabaseResultStore

logger = logging.getLogger(__name__)

# The cores this worker process may run on, shared by the probes of all its tasks as an audit's probes share them in
# the CLI: an interpreter starts once it holds one, so a task's re-imports (auditor.core.probe) take a core left idle,
# and never more of them import at once than there are cores, however many tasks run (auditor.cli.serve starts two
# per core).
WORKER_CORES = Cores(available_cores())


def audit_submit(
    *,
    owner: Any,
    requirements: Sequence[tuple[str, bytes]] = (),
    wheels: Sequence[tuple[str, bytes]] = (),
    shallow: bool = False,
    max_distributions: int | None = None,
) -> Audit:
    """Validate the input and queue an audit of it. Raises InputError with a message for the user.

    `requirements` are (file name, content) pairs, the first being the main file and the others what it may
    include with -r/-c; `wheels` are (file name, content) pairs. Exactly one of the two must be given. An audit whose
    set has more than `max_distributions` (a crawl's budget) fails as `too-large` once resolved, before any install.
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
    options: dict[str, Any] = {
        "shallow": bool(shallow),
        "input": _input_fingerprint(requirements or wheels, shallow=bool(shallow)),
    }
    if max_distributions is not None:
        options["max_distributions"] = max_distributions
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
        with transaction.atomic():  # a savepoint: a database error here leaves a caller's transaction usable
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
    embedded broker's poll) that a repeat would otherwise wait for. False when a worker must do the audit.

    Not while vulnerabilities are looked up: that waits on the network, which a web request must not, and a process
    that died during it would leave the audit running with no task to finish it."""
    if settings.FORKAUDIT_VULNERABILITY_SERVICE != "none":
        return False
    earlier = _earlier_resolution(audit)
    if earlier is None:
        return False
    options = audit_options(audit)
    interpreter = interpreter_info(options.python)
    for name, version in earlier["pins"].items():
        if _reusable(pin_key(name, version, interpreter=interpreter, options=options, origins={}), audit) is None:
            return False
    if not audit_mark_running(audit_id=audit.pk):
        return False
    audit_graph_store(audit_id=audit.pk, graph=earlier, origins={})
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
        given = audit_input(audit, workdir(audit.pk))
        requirements = list(given.requirements)
        if given.lock is not None:
            requirements += given.lock.select(marker_environment(audit_options(audit).python)).requirements
    except (InputError, OSError, ValueError):
        return None
    if lock_pins(requirements) != earlier["pins"]:
        return None  # a range, or a dependency the input does not pin: the index may answer otherwise now
    return dict(earlier)


# --- running an audit ---------------------------------------------------------------------------------------------


def audit_options(audit: Audit) -> AuditOptions:
    # One distribution per task, two tasks at once per core of the worker (auditor.cli.serve): each task's static
    # scan runs in a thread beside its probe, where the CLI's audits share one pool of scanners among their probes.
    return options_from_settings(
        shallow=bool(audit.options.get("shallow")), jobs=1, owner_tag=str(audit.owner_id or "local")
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
    directory = workdir(audit_id)
    sweep(directory.parent)
    try:
        given = audit_input(audit, directory)
        options = audit_options(audit)
        sandbox_for(options.sandbox)  # refuse early, before any work, when the sandbox cannot run
        resolution = resolve_input(given, workdir=directory, options=options)
    except (ResolutionError, InputError) as exc:
        error = f"the requirements cannot be resolved: {exc.readable if isinstance(exc, ResolutionError) else exc}"
        audit_mark_failed(audit_id=audit_id, error=error, code=_failure_code(exc))
        discard(directory)  # no analysis was handed out yet: nothing else uses it (it may be in memory)
        return []
    except (AuditFailed, SandboxUnavailable, OSError) as exc:
        audit_mark_failed(audit_id=audit_id, error=f"the audit could not be completed: {exc}", code=_failure_code(exc))
        discard(directory)
        return []
    too_large = _over_budget(resolution, budget=audit.options.get("max_distributions"))
    if too_large:
        audit_mark_failed(audit_id=audit_id, error=too_large, code=Audit.FailureCode.TOO_LARGE)
        discard(directory)
        return []
    origins = private_origins(given.wheels, owner_tag=options.owner_tag, resolution=resolution)
    audit_graph_store(audit_id=audit_id, graph=resolution.to_dict(), origins=origins)
    pending = _complete_stored(audit, options=options, origins=origins)
    if not pending:
        audit_finish(audit_id=audit_id)
    return pending


def _over_budget(resolution: Resolution, *, budget: int | None) -> str:
    """Why the set is too large for the audit's budget, or ""."""
    if budget is None or len(resolution.pins) <= budget:
        return ""
    named = ", ".join(f"{name} {resolution.pins[name]}" for name in sorted(resolution.direct))
    return f"the set of {named} has {len(resolution.pins)} distributions, more than the budget of {budget}"


def _complete_stored(audit: Audit, *, options: AuditOptions, origins: dict[str, str]) -> list[int]:
    """Complete the pending distributions whose results the database has (they need no environment and no task);
    the ids of the others."""
    interpreter = interpreter_info(options.python)
    pending = []
    for distribution in AuditDistribution.objects.filter(audit_id=audit.pk, status=AuditDistribution.Status.PENDING):
        name, version = distribution.name, distribution.version
        record = _reusable(pin_key(name, version, interpreter=interpreter, options=options, origins=origins), audit)
        if record is not None:
            audit_distribution_complete(audit_distribution_id=distribution.pk, probe=record, cached=True)
        else:
            pending.append(distribution.pk)
    return pending


def audit_analyse(*, audit_distribution_id: int) -> uuid.UUID | None:
    """Analyse one distribution of a running audit (or reuse its stored result) and count it done; the id of its
    audit (None if the distribution is gone).

    Raises ProbeInProgress when another worker is probing the same version: the task retries later.
    """
    distribution = (
        AuditDistribution.objects.select_related("audit", "audit__owner").filter(pk=audit_distribution_id).first()
    )
    if distribution is None:
        return None
    if distribution.status == AuditDistribution.Status.DONE:
        # A redelivery: if the worker died between completing the last distribution and finishing, finish now.
        audit_finish(audit_id=distribution.audit_id)
        return distribution.audit_id
    audit = distribution.audit
    if audit.status != Audit.Status.RUNNING:
        return audit.pk
    options = audit_options(audit)
    store = DatabaseResultStore(verdict_of=_verdict, owner=audit.owner)
    try:
        prepared = prepared_environment(audit, options)
        sandbox = sandbox_for(options.sandbox)
    except (AuditFailed, SandboxUnavailable, OSError) as exc:
        audit_mark_failed(audit_id=audit.pk, error=f"the audit could not be completed: {exc}", code=_failure_code(exc))
        return audit.pk
    dist = next((d for d in prepared.distributions if d.name == distribution.name), None)
    if dist is None:
        error = prepared.install_errors.get(distribution.name, "it was not installed")
        audit_distribution_complete(audit_distribution_id=distribution.pk, probe=None, cached=False, error=error)
    else:
        key = installed_key(dist, prepared.env, options, {**prepared.carried, **audit.options.get("origins", {})})
        record, cached = _reusable(key, audit), True
        if record is None:
            with claimed(key, stale_after=timedelta(seconds=options.timeout * 30 + 600)):
                record, cached = _reusable(key, audit), True  # finished by another worker while we waited
                if record is None:
                    top_level, submodules = import_names(dist)
                    modules = len(top_level) + (0 if options.shallow else len(submodules))
                    audit_distribution_probing(audit_distribution_id=distribution.pk, modules=modules)
                    attributor = Attributor(
                        prepared.owners,
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
                        cores=WORKER_CORES,
                    )
                    record, cached = store.put(key, result), False
        audit_distribution_complete(audit_distribution_id=distribution.pk, probe=record, cached=cached)
    audit_finish(audit_id=audit.pk)
    return audit.pk


def _verdict(result: ProbeResult) -> str:
    return str(probe_verdict(result))


def _reusable(key: ProbeKey, audit: Audit) -> ProbeRecord | None:
    """The stored result of `key` that the audit may reuse (auditor.selectors.probe_record_for)."""
    return probe_record_for(key=key, owner_id=audit.owner_id)


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
    results: dict[str, tuple[ProbeResult, bool]] = {}
    for distribution in distributions:
        if distribution.probe is not None:
            result = ProbeResult.from_dict(distribution.probe.result)
            python, platform, sandbox = distribution.probe.python, distribution.probe.platform, result.sandbox
        else:
            result = install_failure(distribution.name, distribution.version, distribution.error, sandbox)
        results[distribution.name] = (result, distribution.cached)
    vulnerabilities, problem = pip_audit_source(dict(resolution.pins), service=settings.FORKAUDIT_VULNERABILITY_SERVICE)
    report, corrected = finish_report(
        results,
        resolution=resolution,
        environment=Environment(python=python, platform=platform, sandbox=sandbox),
        vulnerabilities=vulnerabilities,
        problem=problem,
    )
    # Blame that other probes did not bear out is corrected in the store too, for what this audit probed (a result
    # reused from another audit is that audit's to correct).
    for distribution in distributions:
        if distribution.name in corrected and not distribution.cached and distribution.probe is not None:
            record = distribution.probe
            store = DatabaseResultStore(verdict_of=_verdict, owner=record.owner)
            store.put(probe_record_key(record), corrected[distribution.name])
    finished = audit_mark_done(audit_id=audit_id, report=report)
    if finished:
        forget_environment(audit_id)
        discard(workdir(audit_id))
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


def audit_distribution_fail_unexpectedly(*, audit_distribution_id: int, error: Exception) -> uuid.UUID | None:
    """`audit_fail_unexpectedly` for the audit that distribution `audit_distribution_id` belongs to; that audit's id
    (None if the distribution is gone)."""
    audit_id = AuditDistribution.objects.filter(pk=audit_distribution_id).values_list("audit_id", flat=True).first()
    if audit_id is None:
        logger.error(
            "audit distribution %s (gone) failed on an unexpected error", audit_distribution_id, exc_info=error
        )
        return None
    audit_fail_unexpectedly(audit_id=audit_id, error=error)
    return audit_id
