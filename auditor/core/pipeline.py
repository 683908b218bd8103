"""The audit pipeline (docs/data-flow.md): resolve → install → plan → probe + static scan → verdicts + paths → report.

Plain functions over plain data. The CLI runs `run_audit` in-process; the service runs the same steps from Celery
tasks (auditor/workflow.py: `resolve_input`, then `analyse_distribution` per distribution on any worker, each in
its machine's copy of the environment from `build_environment`, then `build_report`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from packaging.utils import canonicalize_name, parse_wheel_filename

from auditor.core import static
from auditor.core.background import ThreadPool, in_background
from auditor.core.blame import refuted
from auditor.core.builds import BuildFailed, build_wheel, placeholder_wheel
from auditor.core.bytecode import (
    compile_environment,
    discard_shipped_bytecode,
    shared_distributions,
    worth_compiling,
)
from auditor.core.cache import ANY_WHEEL_TAG, ProbeKey, ResultStore
from auditor.core.environments import (
    AuditEnvironment,
    InstalledDistribution,
    Interpreter,
    create_environment,
    file_owners,
    import_names,
    install,
    installed_distributions,
    interpreter_info,
    is_test_code,
)
from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Environment,
    Finding,
    ImportFailure,
    ProbeResult,
    Verdict,
    Vulnerability,
)
from auditor.core.inputs.locks import Lock, marker_environment
from auditor.core.integrity import carried_origins, intact_distributions
from auditor.core.probe import PROBE_VERSION, ProbeOptions, probe_distribution
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.runner import Cores, available_cores
from auditor.core.probe.sandbox import Sandbox, sandbox_for
from auditor.core.resolve import Resolution, ResolutionError, lock_pins, resolve
from auditor.core.sources import SourceUnavailable, fetch_sdist, sources_needed, without_usable_wheels
from auditor.core.uv import UvError
from auditor.core.verdicts import probe_verdict

BUILT = "built"  # the directory of an audit's work directory where wheels built from source go
BUILD_ERROR = ".build-error"  # beside a placeholder wheel there: why its distribution could not be built
MAX_BUILD_ROUNDS = 10

VulnerabilitySource = Callable[[dict[str, str]], tuple[dict[str, list[Vulnerability]], str | None]]


def default_python() -> str:
    """The interpreter audit environments are built on: forkaudit's own (its installation is bound in read-only)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@dataclass(frozen=True)
class AuditOptions:
    shallow: bool = False
    timeout: float = 60.0
    jobs: int = field(default_factory=available_cores)
    no_cache: bool = False
    build: bool = True  # build source distributions of packages without a usable wheel (in the sandbox)
    use_index: bool = True
    sandbox: str = "bwrap"
    python: str = field(default_factory=default_python)
    static_scan: bool = True
    owner_tag: str = "local"  # who uploaded the wheels: their results are kept apart from the index's

    def probe_options(self) -> ProbeOptions:
        return ProbeOptions(timeout=self.timeout, shallow=self.shallow)


@dataclass(frozen=True)
class AuditInput:
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    wheels: tuple[Path, ...] = ()  # validated wheel files: each is a direct requirement
    prereleases: bool = False
    sources: tuple[Path, ...] = ()  # local directories of source distributions, tried before the index
    lock: Lock | None = None  # a lock file: its pins for the audit's interpreter join `requirements`


class AuditFailed(RuntimeError):
    """The audit could not be completed (not the input's fault: the installer, the sandbox, the machine)."""


@dataclass
class Prepared:
    """An installed audit environment and what the pipeline knows about it."""

    env: AuditEnvironment
    resolution: Resolution
    distributions: list[InstalledDistribution]
    install_errors: dict[str, str]  # name -> why it could not be installed
    carried: dict[str, str] = dataclasses.field(default_factory=dict)  # integrity.carried_origins

    @functools.cached_property
    def owners(self) -> dict[str, str]:
        """Which of the distributions owns each installed file (file_owners), found once for all their probes."""
        return file_owners(self.env, self.distributions)


class _InstallOptions(TypedDict):
    """What every install of the audit's pins passes to `install`."""

    find_links: list[Path]
    use_index: bool
    no_deps: bool


@dataclass(frozen=True)
class Resolving:
    """The audit has started: uv resolves (and, for what is not known, installs)."""


@dataclass(frozen=True)
class Planned:
    """The set is resolved: `total` distributions, `cached` known from the store, `to_probe` left to analyse."""

    total: int
    cached: int
    to_probe: int


@dataclass(frozen=True)
class Probed:
    """Distribution `name` is analysed: `done` of `total`."""

    name: str
    done: int
    total: int


@dataclass(frozen=True)
class LookingUpVulnerabilities:
    """Everything is analysed; the vulnerability lookup is waited for."""


ProgressEvent = Resolving | Planned | Probed | LookingUpVulnerabilities
Progress = Callable[[ProgressEvent], None]


def _no_progress(event: ProgressEvent) -> None:
    pass


def stage_wheels(wheels: Sequence[Path], workdir: Path) -> list[Path]:
    """Copy the audit's wheels into `workdir/wheels`, the only place their dependencies may come from besides the
    index; returns the find-links directories (none without wheels)."""
    if not wheels:
        return []
    wheel_dir = workdir / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        if wheel.parent != wheel_dir:
            shutil.copy2(wheel, wheel_dir / wheel.name)
    return [wheel_dir]


def resolve_input(audit_input: AuditInput, *, workdir: Path, options: AuditOptions) -> Resolution:
    """The exact pins and the graph of the input, for the audit's interpreter. A package without a usable wheel is
    built from its source distribution in the sandbox (unless `options.build` is off), and resolution goes on with
    the wheel it made; one that cannot be built stands in as an empty placeholder, recorded in `build_errors`, so
    that the rest of the set is still resolved and audited.

    Raises ResolutionError (the input cannot be resolved: the user's to fix).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    requirements = list(audit_input.requirements) + [_wheel_requirement(w) for w in audit_input.wheels]
    selection = audit_input.lock.select(marker_environment(options.python)) if audit_input.lock else None
    if selection is not None:
        requirements += selection.requirements
    built_dir = workdir / BUILT
    built_dir.mkdir(exist_ok=True)
    given = [*stage_wheels(audit_input.wheels, workdir), *audit_input.sources]
    attempted: set[str] = set()
    for _ in range(MAX_BUILD_ROUNDS):
        try:
            resolution = resolve(
                requirements,
                python=Path(options.python),
                constraints=audit_input.constraints,
                # The built directory only once it holds something: without find-links, a lock may resolve offline.
                find_links=[*given, built_dir] if any(built_dir.iterdir()) else given,
                use_index=options.use_index,
                prereleases=audit_input.prereleases,
                workdir=workdir,
            )
        except ResolutionError as exc:
            needed = {n: v for n, v in sources_needed(str(exc)).items() if n not in attempted}
            if not options.build or not needed:
                raise
            if not attempted and options.use_index and (pins := lock_pins(requirements)):
                # A lock names every version: whatever else in it lacks a wheel is built now, not one per round.
                python_version = interpreter_info(options.python).version
                needed |= without_usable_wheels(pins, python_version=python_version, jobs=4 * options.jobs)
            problems = _build_sources(
                needed, workdir=workdir, options=options, sources=audit_input.sources, given=given
            )
            attempted |= needed.keys()
            if not needed.keys() - problems.keys():  # nothing was built or stood in for: no new answer
                raise ResolutionError("\n".join([str(exc), *problems.values()])) from exc
            continue
        # What the built directory holds, not only what this call built: a redelivered task resolves again.
        built = {canonicalize_name(parse_wheel_filename(p.name)[0]) for p in built_dir.glob("*.whl")}
        errors = {p.name.removesuffix(BUILD_ERROR): p.read_text() for p in built_dir.glob(f"*{BUILD_ERROR}")}
        return dataclasses.replace(
            resolution,
            # Every pin of a lock is a requirement to uv; the direct ones are those the lock names (else its roots).
            direct=selection.direct_of(resolution.pins, resolution.edges) if selection else resolution.direct,
            sources=frozenset(name for name in built if name in resolution.pins and name not in errors),
            build_errors={name: error for name, error in errors.items() if name in resolution.pins},
        )
    raise ResolutionError(f"still unresolved after building {len(attempted)} source distributions")


def _build_sources(
    needed: Mapping[str, str | None],
    *,
    workdir: Path,
    options: AuditOptions,
    sources: Sequence[Path] = (),
    given: Sequence[Path] = (),
) -> dict[str, str]:
    """Build each needed source distribution (from `sources`, then the index) into `workdir/built` (on
    `options.jobs` cores), or, for one that cannot be built, a placeholder and its reason (`<name>.build-error`);
    what could be neither built nor stood in for, with the reason. Build requirements come from `given` and the
    index, as the audit's distributions do."""
    sandbox = sandbox_for(options.sandbox)
    python_version = interpreter_info(options.python).version

    def build(name: str, version: str | None) -> str | None:
        try:
            sdist = fetch_sdist(
                name,
                version,
                directories=sources,
                use_index=options.use_index,
                dest=workdir / "sdists",
                python_version=python_version,
            )
        except SourceUnavailable as exc:
            return str(exc)
        if sdist is None:
            return f"{name}: its newest version has a usable wheel"
        try:
            build_wheel(
                sdist,
                workdir=workdir,
                python=options.python,
                sandbox=sandbox,
                out=workdir / BUILT,
                find_links=given,
                use_index=options.use_index,
            )
        except BuildFailed as exc:
            placeholder_wheel(name, sdist.version, workdir / BUILT)
            (workdir / BUILT / f"{name}{BUILD_ERROR}").write_text(f"could not be built from source: {exc}"[:10_000])
        return None

    with ThreadPool(max_workers=max(1, options.jobs)) as pool:  # builds mostly wait on uv and their sandbox
        futures = {name: pool.submit(build, name, version) for name, version in sorted(needed.items())}
        outcomes = {name: future.result() for name, future in futures.items()}
    return {name: problem for name, problem in outcomes.items() if problem is not None}


def build_environment(
    resolution: Resolution, *, workdir: Path, options: AuditOptions, probed: Collection[str] | None = None
) -> Prepared:
    """A fresh environment at `workdir/env` with exactly the resolved pins (wheels from `workdir/wheels`); for a deep
    audit, the bytecode of the distributions that two of its probes or more import, when there is much of it
    (auditor.core.bytecode), compiled in the sandbox. `probed`: the distributions it will probe (default: every pin)."""
    env_root = workdir / "env"
    if env_root.exists():
        shutil.rmtree(env_root)
    try:
        env = create_environment(env_root, python=options.python)
    except (UvError, OSError, ValueError, subprocess.CalledProcessError) as exc:
        raise AuditFailed(f"could not create the audit environment: {exc}") from exc
    install_errors = dict(resolution.build_errors)
    install_errors.update(_rebuild_sources(resolution, workdir=workdir, options=options))
    find_links = [d for d in (workdir / "wheels", workdir / BUILT) if d.is_dir() and any(d.iterdir())]
    pinned = [f"{name}=={version}" for name, version in sorted(resolution.pins.items()) if name not in install_errors]
    common = _InstallOptions(
        find_links=find_links,
        use_index=options.use_index,
        no_deps=True,
    )
    try:
        _install_pins(env, pinned, common)
    except UvError:
        # One bad distribution should not sink the audit: install one by one and record which failed.
        for requirement in pinned:
            try:
                install(env, requirements=[requirement], **common)
            except UvError as exc:
                install_errors[requirement.split("==")[0]] = str(exc)
    discard_shipped_bytecode(env)
    installed = installed_distributions(env)
    if not options.shallow:
        shared = shared_distributions(resolution, resolution.pins if probed is None else probed)
        compiled = [dist for dist in installed if dist.name in shared]
        if worth_compiling(env, compiled):
            compile_environment(env, compiled, sandbox=sandbox_for(options.sandbox), jobs=options.jobs)
    return examined(env, resolution, install_errors, installed)


def examined(
    env: AuditEnvironment,
    resolution: Resolution,
    install_errors: Mapping[str, str],
    installed: Sequence[InstalledDistribution] | None = None,
    carried: Mapping[str, str] | None = None,
) -> Prepared:
    """What the pipeline knows of an installed environment: its intact distributions, why the others are not, and
    the origins of those whose packages carry another's modules (auditor.core.integrity; `carried` when they were
    found when it was built: every file of every distribution is read to find them)."""
    if installed is None:
        installed = installed_distributions(env)
    distributions, problems = intact_distributions(env, installed, resolution.pins)
    if carried is None:
        carried = carried_origins(distributions, resolution)
    return Prepared(env, resolution, distributions, {**install_errors, **problems}, dict(carried))


def _rebuild_sources(resolution: Resolution, *, workdir: Path, options: AuditOptions) -> dict[str, str]:
    """Build again the source distributions the resolution was built with that this machine has not (the service
    builds each audit's environment on every worker that analyses part of it); those that fail, with why."""
    have = {canonicalize_name(parse_wheel_filename(p.name)[0]) for p in (workdir / BUILT).glob("*.whl")}
    missing = {name: resolution.pins[name] for name in resolution.sources if name not in have}
    if not missing:
        return {}
    given = [d for d in (workdir / "wheels",) if d.is_dir()]
    problems = _build_sources(missing, workdir=workdir, options=options, given=given)
    errors = {name: (workdir / BUILT / f"{name}{BUILD_ERROR}") for name in missing}
    return {**{name: path.read_text() for name, path in errors.items() if path.exists()}, **problems}


def _install_pins(env: AuditEnvironment, pinned: list[str], common: _InstallOptions) -> None:
    """Install exact pins from uv's cache alone if it holds every wheel (asking the index whether each project's page
    changed costs more than linking 60 wheels: bench/README.md, finding 22), else with the index."""
    if common["use_index"]:
        try:
            install(env, requirements=pinned, offline=True, **common)
            return
        except UvError:
            pass  # a wheel uv has not downloaded yet
    install(env, requirements=pinned, **common)


def _wheel_requirement(wheel: Path) -> str:
    name, version, _, _ = parse_wheel_filename(wheel.name)
    return f"{name}=={version}"


def private_origins(wheels: Sequence[Path], *, owner_tag: str, resolution: Resolution | None = None) -> dict[str, str]:
    """Origin of each distribution that came from an uploaded wheel: its uploader and its content, never "index",
    so that a private wheel never shadows the public record of a same-named package (nor a re-upload its past).

    With the resolution, also of each distribution that requires an uploaded one, directly or not: its import runs
    the uploaded code, which could make its result anything, so that result is the uploader's too, never public."""
    origins: dict[str, str] = {}
    for wheel in wheels:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
        origins[canonicalize_name(parse_wheel_filename(wheel.name)[0])] = f"upload:{owner_tag}:{digest}"
    if resolution is not None and origins:
        uploads = hashlib.sha256(repr(sorted(origins.items())).encode()).hexdigest()[:16]
        uploaded = set(origins)
        for name in resolution.pins:
            if name not in origins and not uploaded.isdisjoint(resolution.dependencies_of(name)):
                origins[name] = f"upload:{owner_tag}:requires:{uploads}"
    return origins


def python_files(dist: InstalledDistribution, env: AuditEnvironment) -> list[Path]:
    """The distribution's Python files that the static scan reads: not its tests, which the probe never imports."""
    return [
        env.site_packages / relative
        for relative in dist.module_files()
        if relative.endswith(".py") and not is_test_code(relative)
    ]


def analyse_distribution(
    dist: InstalledDistribution,
    *,
    env: AuditEnvironment,
    attributor: Attributor,
    sandbox: Sandbox,
    options: AuditOptions,
    static_findings: Sequence[Finding] | None = None,
    cores: Cores | None = None,
    importers: Sequence[str] = (),
) -> ProbeResult:
    """Static scan (unless given) and probe of one installed distribution: everything that is cached about it.
    `importers` are the top-level modules of what requires it, should it refuse to be imported on its own."""

    def probe(found: Sequence[Finding]) -> ProbeResult:
        extra = sorted(static.module_level_thread_modules(found))
        probe_options = dataclasses.replace(options.probe_options(), extra_modules=extra, importers=tuple(importers))
        return probe_distribution(
            dist, env=env, attributor=attributor, sandbox=sandbox, options=probe_options, cores=cores
        )

    if static_findings is not None or not options.static_scan:
        found = list(static_findings or [])
        result = probe(found)
    else:
        # The scan and the probe side by side: the probe waits on its interpreter while this process scans. The
        # probe is done again, with them, only if the scan names modules it did not import (a private module that
        # starts a thread when imported): the result is the one the scan first, then the probe, would give.
        files = python_files(dist, env)
        scan = in_background(lambda: static.scan_files(files, root=env.site_packages, jobs=options.jobs))
        result = probe([])
        found = scan.result()
        probed = {module.name for module in result.modules}
        if not static.module_level_thread_modules(found) <= probed:
            result = probe(found)
    return dataclasses.replace(result, findings=result.findings + tuple(found))


def analyse_distributions(
    distributions: Sequence[InstalledDistribution],
    *,
    env: AuditEnvironment,
    installed: Sequence[InstalledDistribution],
    sandbox: Sandbox,
    options: AuditOptions,
    scanner: static.Scanner,
    resolution: Resolution | None = None,
) -> Generator[tuple[InstalledDistribution, ProbeResult], None, None]:
    """`analyse_distribution` of each of `distributions`, on `options.jobs` cores, the static scans on `scanner`;
    results as they come. `installed` is everything in `env`, whose files the probes' evidence is attributed to."""
    # The largest first: they take longest, and the rest fill the gaps around them.
    todo = sorted(distributions, key=lambda dist: len(dist.files), reverse=True)
    # `jobs` interpreters work at once; twice as many threads let the next probe take the core of one that waits.
    cores = Cores(options.jobs)
    with ThreadPool(max_workers=2 * options.jobs) as pool:  # a Ctrl-C reaches the caller's thread, not these
        # Each distribution's probe starts once its own static scan is done (which modules the probe imports
        # depends on it), while the scan of the others goes on in the scanner's processes. Threads only wait
        # here: each probe is a separate, spawned interpreter.
        scans = {
            dist.name: scanner.submit(python_files(dist, env), root=env.site_packages)
            for dist in todo
            if options.static_scan
        }
        # Who owns each file is needed once a probe ends: found while the first scans run (bench/README.md, finding 36).
        attributor = Attributor(file_owners(env, installed), env.site_packages, {d.name: d.version for d in installed})

        def analyse(dist: InstalledDistribution) -> ProbeResult:
            found = scans[dist.name].result() if dist.name in scans else []
            return analyse_distribution(
                dist,
                env=env,
                attributor=attributor,
                sandbox=sandbox,
                options=options,
                static_findings=found,
                cores=cores,
                importers=importers_of(dist.name, resolution, installed) if resolution else (),
            )

        try:
            futures = {pool.submit(analyse, dist): dist for dist in todo}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            # Left before the end (a Ctrl-C, an error, a caller that stopped reading): the probes still running
            # stop now instead of running on to their end (up to the timeout), and none starts.
            cores.stop()
            pool.shutdown(wait=False, cancel_futures=True)


def importers_of(name: str, resolution: Resolution, installed: Sequence[InstalledDistribution]) -> list[str]:
    """The top-level modules of the distributions that require `name` directly."""
    requirers = {requirer for requirer, required in resolution.edges if required == name}
    return [module for dist in installed if dist.name in requirers for module in import_names(dist)[0]]


def install_failure(name: str, version: str, message: str, sandbox: str) -> ProbeResult:
    failure = ImportFailure(module=None, reason="install", message=message[:2000])
    return ProbeResult(name, version, sandbox, (), (failure,), error="could not be installed")


def distribution_report(
    result: ProbeResult,
    *,
    resolution: Resolution,
    cached: bool,
    vulnerabilities: Sequence[Vulnerability] = (),
) -> DistributionReport:
    verdict = probe_verdict(result)
    return DistributionReport(
        built_from_source=result.distribution in resolution.sources,
        imported_with=result.imported_with,
        name=result.distribution,
        version=result.version,
        direct=result.distribution in resolution.direct,
        verdict=verdict,
        fork_aware=result.fork_aware,
        paths=tuple(resolution.paths_to(result.distribution)) if verdict != Verdict.SAFE else (),
        modules=result.modules,
        findings=result.findings + tuple(vulnerabilities),
        cached=cached,
    )


def build_report(
    reports: Sequence[DistributionReport], *, environment: Environment, errors: Sequence[str] = ()
) -> AuditReport:
    ordered = sorted(reports, key=lambda d: (-d.verdict.severity, d.name))
    return AuditReport(
        verdict=Verdict.worst([d.verdict for d in ordered]),
        environment=environment,
        distributions=tuple(ordered),
        errors=tuple(errors),
    )


def result_key(
    name: str,
    version: str,
    *,
    python: str,
    platform: str,
    options: AuditOptions,
    origins: Mapping[str, str],
    wheel_tag: str = ANY_WHEEL_TAG,
) -> ProbeKey:
    """The key a distribution version's result is stored under. Before install the wheel is not known yet
    (ANY_WHEEL_TAG: any wheel of that version on this Python and platform); a probed one is stored under its own."""
    return ProbeKey(
        name=name,
        version=version,
        wheel_tag=wheel_tag,
        python=python,
        platform=platform,
        probe_version=PROBE_VERSION,
        deep=not options.shallow,
        origin=origins.get(name, "index"),
    )


def pin_key(
    name: str, version: str, *, interpreter: Interpreter, options: AuditOptions, origins: Mapping[str, str]
) -> ProbeKey:
    """`result_key` of a pin before install: any wheel of that version on this interpreter's Python and platform."""
    return result_key(
        name, version, python=interpreter.version, platform=interpreter.platform, options=options, origins=origins
    )


def installed_key(
    dist: InstalledDistribution, env: AuditEnvironment, options: AuditOptions, origins: Mapping[str, str]
) -> ProbeKey:
    """`result_key` of a distribution installed in `env`."""
    return result_key(
        dist.name,
        dist.version,
        python=env.python_version,
        platform=env.platform,
        options=options,
        origins=origins,
        wheel_tag=dist.wheel_tag,
    )


def known_results(
    resolution: Resolution, *, store: ResultStore, options: AuditOptions, origins: Mapping[str, str]
) -> dict[str, ProbeResult]:
    """The pins whose results the store already has: they need no environment at all, so an audit of a known set
    installs nothing."""
    if options.no_cache:
        return {}
    interpreter = interpreter_info(options.python)
    found = {}
    for name, version in resolution.pins.items():
        result = store.get(pin_key(name, version, interpreter=interpreter, options=options, origins=origins))
        if result is not None:
            found[name] = result
    return found


def run_audit(
    audit_input: AuditInput,
    *,
    workdir: Path,
    store: ResultStore,
    options: AuditOptions = AuditOptions(),
    progress: Progress = _no_progress,
    vulnerability_source: VulnerabilitySource | None = None,
) -> AuditReport:
    """Run a whole audit in this process: probes run in parallel, each in its own sandboxed interpreter."""
    # The sandbox is tried (bwrap starts once) while uv resolves (bench/README.md, finding 33).
    sandbox_check = in_background(sandbox_for, options.sandbox)
    progress(Resolving())
    resolution = resolve_input(audit_input, workdir=workdir, options=options)
    sandbox = sandbox_check.result()
    # The vulnerability lookup waits on the network: it runs while the rest of the audit works.
    lookup = in_background(vulnerability_source, dict(resolution.pins)) if vulnerability_source else None
    results, keys = _analyse(
        resolution, audit_input, workdir=workdir, store=store, options=options, sandbox=sandbox, progress=progress
    )
    found: dict[str, list[Vulnerability]] = {}
    problem = None
    if lookup is not None:
        progress(LookingUpVulnerabilities())
        found, problem = lookup.result()
    interpreter = interpreter_info(options.python)
    report, corrected = finish_report(
        results,
        resolution=resolution,
        environment=Environment(python=interpreter.version, platform=interpreter.platform, sandbox=sandbox.name),
        vulnerabilities=found,
        problem=problem,
    )
    for name, result in corrected.items():
        if name in keys:  # corrected in the store only what this audit probed and stored
            store.put(keys[name], result)
    return report


def finish_report(
    results: Mapping[str, tuple[ProbeResult, bool]],
    *,
    resolution: Resolution,
    environment: Environment,
    vulnerabilities: Mapping[str, Sequence[Vulnerability]],
    problem: str | None,
) -> tuple[AuditReport, dict[str, ProbeResult]]:
    """The audit's report from each distribution's result (and whether it was known before), once all are in; and
    the results whose blame on others their own probes did not bear out (auditor.core.blame), corrected: the
    caller stores those it probed. The one last step of the CLI's audits and the service's."""
    corrected = refuted({name: result for name, (result, _) in results.items()})
    reports = [
        distribution_report(
            corrected.get(name, result),
            resolution=resolution,
            cached=cached,
            vulnerabilities=vulnerabilities.get(name, ()),
        )
        for name, (result, cached) in results.items()
    ]
    return build_report(reports, environment=environment, errors=[problem] if problem else []), corrected


def _analyse(
    resolution: Resolution,
    audit_input: AuditInput,
    *,
    workdir: Path,
    store: ResultStore,
    options: AuditOptions,
    sandbox: Sandbox,
    progress: Progress,
) -> tuple[dict[str, tuple[ProbeResult, bool]], dict[str, ProbeKey]]:
    """Each pinned distribution's result, and whether it was known before: known results are looked up, the rest is
    installed, scanned and probed; and the keys this audit stored results under."""
    origins = private_origins(audit_input.wheels, owner_tag=options.owner_tag, resolution=resolution)
    keys: dict[str, ProbeKey] = {}
    results = {
        name: (result, True)
        for name, result in known_results(resolution, store=store, options=options, origins=origins).items()
    }
    if len(results) == len(resolution.pins):
        progress(Planned(total=len(results), cached=len(results), to_probe=0))
        return results, keys
    # The scanner's workers start (and import libcst) while uv installs, which leaves the cores partly idle.
    with static.Scanner(static.scan_workers(options.jobs) if options.static_scan else 0) as scanner:
        prepared = build_environment(
            resolution, workdir=workdir, options=options, probed=resolution.pins.keys() - results.keys()
        )
        env = prepared.env
        for name, message in prepared.install_errors.items():
            results[name] = (install_failure(name, resolution.pins.get(name, "?"), message, sandbox.name), False)
        todo = [d for d in prepared.distributions if d.name not in results]
        total = len(results) + len(todo)
        progress(Planned(total=total, cached=total - len(todo), to_probe=len(todo)))
        if todo:
            analysed = analyse_distributions(
                todo,
                env=env,
                installed=prepared.distributions,
                sandbox=sandbox,
                options=options,
                scanner=scanner,
                resolution=resolution,
            )
            with contextlib.closing(analysed):  # an interruption stops the probes at once, not when collected
                for dist, result in analysed:
                    keys[dist.name] = installed_key(dist, env, options, {**prepared.carried, **origins})
                    store.put(keys[dist.name], result)
                    results[dist.name] = (result, False)
                    progress(Probed(name=dist.name, done=len(results), total=total))
    return results, keys
