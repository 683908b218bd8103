"""`forkaudit crawl`: probe the latest version of many projects through the service's workers (auditor/crawl.py).

This command opens (or resumes) the crawl, hands out its first projects, shows the progress and prints the
summary; the work is Celery tasks that any worker takes, and the worker that ends a project hands out the next. On the
embedded broker (files in the data directory, one machine) it starts a worker of its own, as `forkaudit serve` does,
and stops it at the end; with a shared broker (Redis) the service's workers do the work. Killed or interrupted, it is
run again with the same arguments to go on.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from auditor.cli.common import EXIT_INCOMPLETE, EXIT_OK, Incomplete, UsageError, positive_int, setup_django
from auditor.cli.progress import ProgressBar

POLL_SECONDS = 1.0  # how often the progress is shown (the workers hand out the next project themselves)
END_POLL_SECONDS = 0.1  # how often the crawl's own row is read, so that the command ends soon after the crawl
MAX_TOP = 100_000
# Each project in flight asks the index only while it resolves (a few requests): the embedded worker's threads, two
# per core, keep its cores busy, up to this many at once unless asked.
MAX_DEFAULT_CONCURRENCY = 16


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "crawl",
        help="probe the latest version of the most downloaded projects (or a list), with their dependencies",
        description="Audit the newest version of each project, deep, with its dependencies, through the workers; "
        "what the database already knows is not probed again. Run it again with the same arguments to resume.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--top", type=_top, metavar="N", help="the N most downloaded PyPI projects (the ranking forkaudit ships)"
    )
    which.add_argument(
        "--from", dest="source", metavar="FILE", help="the projects named in FILE, one a line (# comments)"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="also look again at known projects: audit those whose newest version is not in the database",
    )
    parser.add_argument("--shallow", action="store_true", help="import top-level modules only")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        metavar="N",
        help="projects resolved or audited at once, the load on the index (default: the embedded worker's threads, "
        f"two per core of this machine, at most {MAX_DEFAULT_CONCURRENCY}; with workers elsewhere, through a shared "
        "broker, pass about their threads in all)",
    )
    parser.add_argument(
        "--max-distributions",
        type=_budget,
        default=100,
        metavar="N",
        help="skip a project whose set has more than N distributions (default: 100)",
    )
    parser.add_argument(
        "--item-timeout",
        type=_budget,
        default=1800,
        metavar="SECONDS",
        help="skip a project not done within SECONDS of being handed out (default: 1800)",
    )
    parser.set_defaults(run=run)


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_TOP:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TOP}: {text!r}")
    return value


def _budget(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1000000: {text!r}")
    return value


def _projects(args: argparse.Namespace) -> list[str]:
    from auditor.core.ranking import ProjectListError, read_project_list, top_projects

    if args.top is not None:
        return top_projects(args.top)
    path = Path(args.source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return read_project_list(text, source=str(path))
    except ProjectListError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    projects = _projects(args)  # bad input before any set-up
    setup_django(seed=True)  # what the seed knows is not crawled again
    from django.conf import settings
    from django.db import DatabaseError
    from kombu.exceptions import OperationalError

    from auditor.crawl import CrawlOptions, crawl_open, crawl_resume

    options = CrawlOptions(
        refresh=args.refresh,
        shallow=args.shallow,
        concurrency=args.concurrency or default_concurrency(),
        max_distributions=args.max_distributions,
        item_seconds=args.item_timeout,
    )
    embedded = settings.CELERY_BROKER_URL.startswith("filesystem://")
    try:
        crawl, resumed = crawl_open(projects=projects, options=options)
        if resumed:
            print(f"forkaudit: resuming crawl {crawl.pk}, {options.concurrency} projects at once", file=sys.stderr)
            crawl_resume(crawl_id=crawl.pk, requeue_audits=embedded)
    except DatabaseError as exc:
        raise Incomplete(f"the database cannot be used: {exc}") from exc
    except OperationalError as exc:
        raise Incomplete(f"the broker cannot be reached: {exc}") from exc
    worker = _start_worker() if embedded else None
    if worker is None:
        print("forkaudit: the service's workers do the work (shared broker)", file=sys.stderr)
    try:
        return _drive(crawl.pk, worker)
    finally:
        if worker is not None:
            _stop(worker)


def _drive(crawl_id: int, worker: Any) -> int:
    from auditor.crawl import crawl_advance, crawl_items_finished, crawl_summary

    bar = ProgressBar()
    stop: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    try:
        progress = crawl_advance(crawl_id=crawl_id)
        shown = {item.pk for item in crawl_items_finished(crawl_id=crawl_id, excluding=set())}  # a resumed crawl's
        bar.start(total=progress.total, completed=progress.finished)
        while not progress.done:
            if stop:
                raise KeyboardInterrupt
            if worker is not None and worker.poll() is not None:
                raise Incomplete(f"the worker exited (status {worker.returncode}); run the same command to resume")
            _wait(crawl_id, POLL_SECONDS)
            progress = crawl_advance(crawl_id=crawl_id)
            for item in crawl_items_finished(crawl_id=crawl_id, excluding=shown):
                shown.add(item.pk)
                bar.say(_line(item))
            bar.update(completed=progress.finished, total=progress.total, description="crawling")
    except KeyboardInterrupt:
        bar.close()
        print("forkaudit: crawl interrupted; run the same command to resume it", file=sys.stderr)
        return EXIT_INCOMPLETE
    finally:
        signal.signal(signal.SIGTERM, previous)
    bar.close()
    for line in crawl_summary(crawl_id=crawl_id).lines():
        print(line)
    return EXIT_OK


def _wait(crawl_id: int, seconds: float) -> None:
    """Up to `seconds`, less once the crawl is done (the worker that settles its last project marks it so): a look at
    its row is one read, where the progress's counts read every item."""
    from auditor.crawl import crawl_done

    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not crawl_done(crawl_id=crawl_id):
        time.sleep(min(END_POLL_SECONDS, left))


def _line(item: Any) -> str:
    version = f" {item.version}" if item.version else ""
    if item.outcome == "probed" and item.audit is not None:
        return f"{item.rank}. {item.project}{version}: {item.audit.verdict}"
    if item.status == "skipped":
        return f"{item.rank}. {item.project}{version}: skipped ({item.outcome}: {_gist(item.reason)})"
    return f"{item.rank}. {item.project}{version}: {item.outcome}"


def _gist(reason: str) -> str:
    """The line of a reason that says why: uv's `Because ...` after its `No solution found` heading."""
    lines = [line.strip(" ×╰─▶│") for line in reason.splitlines() if line.strip(" ×╰─▶│")]
    because = next((line[line.index("Because") :] for line in lines if "Because" in line), None)
    return because or (lines[0] if lines else "")


# --- the embedded worker -------------------------------------------------------------------------------------------


def default_concurrency() -> int:
    from auditor.cli.serve import worker_threads

    return min(MAX_DEFAULT_CONCURRENCY, worker_threads())


def _start_worker() -> Any:
    """A Celery worker as `forkaudit serve` runs it, which dies with this process even when this one is killed."""
    import subprocess

    from auditor.cli.serve import worker_command, worker_threads

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "auditor.project.settings")
    command = worker_command(concurrency=worker_threads())
    command[command.index("--loglevel") + 1] = "WARNING"  # this terminal shows the crawl's progress, not each task
    try:
        # Its own process group, so that it and its probes can be stopped as one; the parent-death signal, so
        # that a killed crawl leaves no worker taking the next crawl's tasks.
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # Celery's banner; its warnings and errors go to stderr
            process_group=0,
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        raise Incomplete(f"cannot start the worker: {exc.strerror or exc}") from exc


def _die_with_parent() -> None:
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(worker: Any, grace: float = 15.0) -> None:
    """SIGTERM (Celery finishes its running tasks), then the whole group after `grace` seconds."""
    import subprocess

    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    worker.wait()
