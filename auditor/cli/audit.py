"""`forkaudit audit`: run an audit locally, on the embedded database, with a progress bar."""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import tempfile
import uuid
from concurrent.futures import Future, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    Incomplete,
    UsageError,
    external_requirements_allowed,
    positive_float,
    positive_int,
    setup_django,
)
from auditor.cli.progress import ProgressBar
from auditor.core.background import in_background
from auditor.core.cache import ProbeKey, ResultStore
from auditor.core.cleanup import discard, in_use, sweep
from auditor.core.config import ConfigError, Suppression, apply_suppressions, load_config
from auditor.core.findings import AuditReport, ProbeResult, Verdict
from auditor.core.inputs import InputError, parse_requirements, read_requirement_files, validate_wheel_set
from auditor.core.inputs.locks import is_lock_file
from auditor.core.pipeline import AuditFailed, AuditInput, Planned, Probed, ProgressEvent, Resolving, run_audit
from auditor.core.probe.runner import available_cores
from auditor.core.probe.sandbox import SandboxUnavailable
from auditor.core.report import FORMATS, render
from auditor.core.report.baseline import BaselineError, compare, known_set_aside, read_baseline
from auditor.core.report.describe import baseline_headline, headline, plain
from auditor.core.report.sarif import repository_path
from auditor.core.report.table import DEFAULT_WIDTH
from auditor.core.resolve import ResolutionError
from auditor.core.verdicts import probe_verdict
from auditor.core.vulns import LookupProcess, VulnerabilitySource
from auditor.core.workspace import work_root

FAIL_ON = ("unsafe", "caution", "never")
BACKGROUND_TIMEOUT = 120  # seconds: a migration of a large PostgreSQL database can take a while


def add_requirement_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "-r", "--requirement", dest="requirements", action="append", default=[], metavar="FILE", help=help
    )


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The options of `audit` and `check` alike: what the report looks like, where it goes, what fails."""
    parser.add_argument("--format", choices=FORMATS, help="report format (default: table)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        help="exit 1 when a distribution is at or above this verdict (default: unsafe)",
    )
    parser.add_argument(
        "--strict", action="store_true", default=None, help="also exit 1 when a distribution could not be probed"
    )


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "audit",
        help="audit requirements files or wheels locally",
        description="Resolve, install and probe a dependency set locally; results are kept in the embedded database.",
    )
    add_requirement_option(
        parser,
        "a requirements file (repeatable; -r/-c inside it are followed), or one lock file, known by its name: "
        "uv.lock, pylock.toml, pylock.<name>.toml, poetry.lock, Pipfile.lock",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="with a lock file: also its development dependencies (uv.lock's dev groups, poetry.lock's groups "
        "besides main, Pipfile.lock's develop, pylock.toml's dependency groups)",
    )
    parser.add_argument(
        "--wheels", type=Path, metavar="DIR", help="a directory of .whl files, each a direct requirement"
    )
    add_report_options(parser)
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="REPORT.json",
        help="a JSON report of the target branch (--format json): findings it has are known, only new ones fail",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="table: every distribution, finding and path, not one line each"
    )
    parser.add_argument("--no-cache", action="store_true", help="probe again even what the database already knows")
    parser.add_argument(
        "--shallow", action="store_true", default=None, help="import top-level modules only, not public submodules"
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="wall-clock limit of one probe (default: 60)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="parallel probes (default: the number of cores)",
    )
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="with --wheels: take dependencies from the directory only, not from the package index",
    )
    parser.add_argument(
        "--no-vulnerabilities",
        action="store_true",
        help="do not look up known vulnerabilities (no network for it; as FORKAUDIT_VULNERABILITY_SERVICE=none)",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="binary wheels only: do not build (in the sandbox) packages that have no usable wheel",
    )
    parser.set_defaults(run=run)


def with_project_settings(args: argparse.Namespace) -> tuple[Suppression, ...]:
    """Fill the options not given on the command line from the project's [tool.forkaudit] (in the current
    directory), else the built-in defaults; the project's suppressions."""
    try:
        config = load_config(Path.cwd())
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    defaults = {"format": "table", "fail_on": "unsafe", "strict": False, "shallow": False, "timeout": 60.0}
    defaults["jobs"] = available_cores()
    for attribute, default in defaults.items():
        if hasattr(args, attribute) and getattr(args, attribute) is None:
            setattr(args, attribute, config.options.get(attribute.replace("_", "-"), default))
    choices = {"format": FORMATS, "fail_on": FAIL_ON}
    for attribute, allowed in choices.items():
        if hasattr(args, attribute) and getattr(args, attribute) not in allowed:
            raise UsageError(f"{config.source}: {attribute.replace('_', '-')} must be one of {', '.join(allowed)}")
    return config.suppressions


def exit_code(report: AuditReport, *, fail_on: str, strict: bool) -> int:
    """0 or 1 by the verdicts of the distributions that are not suppressed."""
    verdicts = {d.verdict for d in report.distributions if d.suppressed is None}
    failing = {"unsafe": {Verdict.UNSAFE}, "caution": {Verdict.UNSAFE, Verdict.CAUTION}, "never": set()}[fail_on]
    if strict:
        failing |= {Verdict.ERROR}
    return EXIT_FINDINGS if verdicts & failing else EXIT_OK


def read_input(args: argparse.Namespace) -> AuditInput:
    if bool(args.requirements) == bool(args.wheels):
        raise UsageError("give requirements files (-r FILE) or a wheel directory (--wheels DIR), one of the two")
    if getattr(args, "dev", False) and not any(is_lock_file(r) for r in args.requirements):
        raise UsageError("--dev takes a lock file's development dependencies: give a lock file with -r")
    try:
        if args.wheels:
            if not args.wheels.is_dir():
                raise UsageError(f"--wheels: not a directory: {args.wheels}")
            wheels = validate_wheel_set(sorted(args.wheels.glob("*.whl")))
            return AuditInput(wheels=tuple(w.path for w in wheels), sources=(args.wheels,))
        files = _read_requirement_files([Path(r) for r in args.requirements])
        requirements = parse_requirements(
            files,
            main=[str(Path(r)) for r in args.requirements],
            allow_external=external_requirements_allowed(),
            dev=getattr(args, "dev", False),
        )
    except InputError as exc:
        raise UsageError(str(exc)) from exc
    return AuditInput(
        requirements=requirements.options + requirements.requirements,
        constraints=requirements.constraints,
        prereleases=requirements.prereleases,
        lock=requirements.lock,
    )


def _read_requirement_files(paths: list[Path]) -> dict[str, bytes]:
    """The named files and every file they include, read from disk; includes stay under the named file's directory
    unless the operator allows more (auditor.core.inputs.local)."""
    try:
        return read_requirement_files([str(p) for p in paths], allow_outside=external_requirements_allowed())
    except InputError as exc:
        raise UsageError(str(exc)) from exc


class _AuditProgress(ProgressBar):
    """The pipeline's progress events, shown."""

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, Resolving):
            self.say("resolving and installing…")
        elif isinstance(event, Planned):
            self.say(f"{event.total} distributions: {event.cached} known, {event.to_probe} to probe")
            self.start(total=event.total, completed=event.cached)
        elif isinstance(event, Probed):
            self.update(completed=event.done, description=f"probed {event.name}")


def run(args: argparse.Namespace) -> int:
    # Python 3.11's sysconfig fills its variables on first use without a lock, and a thread that reads them meanwhile
    # gets None: uv's find_uv_bin failed so ("uv" + None), now and then under load. Filled here, before any thread.
    sysconfig.get_config_vars()
    suppressions = with_project_settings(args)
    audit_input = read_input(args)
    baseline = read_baseline_option(args.baseline)  # a bad one is exit 2 before any work
    from django.core.exceptions import ImproperlyConfigured

    from auditor.project.startup import load_settings

    try:  # every setting is checked here, before any work
        service = load_settings().FORKAUDIT_VULNERABILITY_SERVICE
    except ImproperlyConfigured as exc:
        raise UsageError(f"configuration: {exc}") from exc
    if args.no_vulnerabilities:
        service = "none"
    # pip-audit starts in a process of its own, on another core, while this one starts Django.
    with LookupProcess(service) as vulnerability_source:
        report = _audit(args, audit_input, vulnerability_source)
    return finish(apply_suppressions(report, suppressions), args, baseline, **render_options(args))


def finish(report: AuditReport, args: argparse.Namespace, baseline: AuditReport | None, **options: Any) -> int:
    """Write the report (against the baseline, if any), say its headline, and return the exit code, which follows
    only what the baseline does not have."""
    comparison = compare(report, baseline) if baseline is not None else None
    write_report(render(report, args.format, baseline=comparison, **options), args.output)
    if args.format != "table" or args.output is not None:  # the table starts with it; a CI log shows stderr
        line = headline(report) if comparison is None else baseline_headline(report, comparison)
        print(f"forkaudit: {plain(line)}", file=sys.stderr)
    counted = report if comparison is None else known_set_aside(report, comparison)
    return exit_code(counted, fail_on=args.fail_on, strict=args.strict)


def read_baseline_option(path: Path | None) -> AuditReport | None:
    if path is None:
        return None
    try:
        return read_baseline(path)
    except BaselineError as exc:
        raise UsageError(str(exc)) from exc


def render_options(args: argparse.Namespace) -> dict[str, Any]:
    """The table fits the terminal it is printed on (a file gets the default width); SARIF points at the lines of the
    requirements files, as paths from the repository's root."""
    if args.format == "table":
        return {"width": DEFAULT_WIDTH if args.output else None, "verbose": getattr(args, "verbose", False)}
    if args.format == "sarif" and args.requirements:
        files = _read_requirement_files([Path(r) for r in args.requirements])
        try:
            requirements = parse_requirements(
                files, main=[str(Path(r)) for r in args.requirements], allow_external=external_requirements_allowed()
            )
        except InputError as exc:
            raise UsageError(str(exc)) from exc
        origins = (replace(o, file=repository_path(Path(o.file))) for o in requirements.origins)
        return {"origins": tuple(origins)}
    return {}


def _audit(args: argparse.Namespace, audit_input: AuditInput, vulnerability_source: VulnerabilitySource) -> AuditReport:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditor.project.settings")
    from django.conf import settings

    settings.FORKAUDIT_DATA_DIR  # noqa: B018 - read here, so that the thread below never configures them at once
    # Django and its database start while uv resolves (together, most of an audit whose results are all known). It is
    # waited for before leaving, even on an error: a database migration cut off mid-way would leave half-done work.
    django_ready = in_background(setup_django)
    from auditor.options import audit_options

    options = audit_options(
        shallow=args.shallow,
        timeout=args.timeout,
        jobs=args.jobs,
        no_cache=args.no_cache,
        build=settings.FORKAUDIT_BUILD_SOURCES and not args.no_build,
        use_index=not args.no_index,
    )
    workdir = work_root(settings.FORKAUDIT_WORK_DIR, Path(settings.FORKAUDIT_DATA_DIR)) / uuid.uuid4().hex
    sweep(workdir.parent)
    progress = _AuditProgress()
    try:
        with in_use(workdir):  # a later audit's sweep deletes it if this process is killed
            report = run_audit(
                audit_input,
                workdir=workdir,
                store=_StoreOnceReady(django_ready),
                options=options,
                progress=progress,
                vulnerability_source=vulnerability_source,
            )
    except ResolutionError as exc:
        raise UsageError(f"the requirements cannot be resolved: {exc.readable}") from exc
    except (AuditFailed, SandboxUnavailable) as exc:
        raise Incomplete(str(exc)) from exc
    finally:
        progress.close()
        discard(workdir)  # deleted in the background: 10,000 files take longer than a repeated audit
        wait([django_ready], timeout=BACKGROUND_TIMEOUT)
    return report


class _StoreOnceReady:
    """The database's ResultStore, once Django has started (in the background, see `run`)."""

    def __init__(self, django_ready: Future[None]) -> None:
        self._django_ready = django_ready
        self._store: ResultStore | None = None

    def get(self, key: ProbeKey) -> ProbeResult | None:
        return self._ready().get(key)

    def put(self, key: ProbeKey, result: ProbeResult) -> None:
        self._ready().put(key, result)

    def _ready(self) -> ResultStore:
        if self._store is None:
            self._django_ready.result()
            from auditor.store import DatabaseResultStore

            self._store = DatabaseResultStore(verdict_of=lambda result: str(probe_verdict(result)))
        return self._store


def write_report(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        # Write beside the target, then rename: a failed run never leaves half a report.
        with tempfile.NamedTemporaryFile("w", dir=output.parent or ".", delete=False, suffix=".tmp") as f:
            f.write(text)
        os.replace(f.name, output)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from exc
