"""The crawl's throughput against the floor, and with two workers against one (issue 13, item 6).

Run:  .venv/bin/python bench/crawl_throughput.py [--from FILE] [--rounds 2] [--python PATH] [--keep]
                                                [--poll-experiment SECONDS]

Needs PyPI and redis-server. The projects are a fixed list of 20 small, popular projects of the shipped ranking
(`auditor/data/top-pypi-packages.tsv`; pure Python or small binary wheels, quick to install; `PROJECTS` below), or
those of `--from FILE` (one a line, as `forkaudit crawl --from` reads them), each with its dependencies. uv's cache is
warmed first by installing every project once (untimed), so no timed row downloads a wheel; every row still asks the
index for the projects' newest versions, as a crawl must. Measured, each in every round:

  floor, k cores     for each project, in the list's order, 2k at a time: `uv venv` + `uv pip install PROJECT` into a
                     fresh venv (in /dev/shm when forkaudit would work there), then, for each installed distribution
                     no earlier project brought, one plain interpreter (`python -c`, the probe's environment
                     variables) that imports every module the deep probe imports (its top-level modules and public
                     submodules, auditor.core.environments.import_names), each in a try; a project that an earlier
                     project's set already held is not installed again (as the crawl finds it known)
  crawl, k workers   `forkaudit crawl --from LIST --concurrency 2k` on a fresh data directory (migrated untimed, no
                     seed, no vulnerability lookups), driven through Redis by k Celery workers started beforehand,
                     each on a core of its own, as `forkaudit serve` starts its worker on a machine of one core: two
                     task threads, one probe interpreter importing at a time. Timed from the command's start to its
                     exit.

with k = 1 and k = 2 cores: each row runs on k cores only (its processes' CPU affinity: the floor's, the crawl's
workers, driver and Redis), and both keep two projects in flight per core, the crawl's default (a project waits on the
index while it resolves: the other one uses the core meanwhile), so the floor's parallelism is the crawl's. The four
are measured one after another in each round (floor 1, crawl 1, floor 2, crawl 2), so that a pair shares this
machine's drift; `--rounds` times, medians used.
Printed: each median, the crawl's throughput as a share of the floor's (floor seconds ÷ crawl seconds, the same
projects; target ≥ 0.8), two workers against one (crawl 1 ÷ crawl 2; target ≥ 1.8 where the cores allow: the floor's
own 2-against-1 says what this machine and these projects allow), each for the whole command and for the crawl's own
span (its row's creation to its end, from its database: the command's start-up and end, once per crawl whatever its
length, left out; a crawl of thousands of projects runs at that rate), the core count and the 1-minute load average
around every row (other sessions' work inflates wall times). And where the crawl's time goes, from the database of
each crawl: per project, its submission (handed out → audit submitted), the audit (submitted → finished: resolving the
project and installing its set, then the probes; their stored seconds beside it) and the settling (audit finished →
item settled). With `--poll-experiment SECONDS`, each round also crawls with the driver looking at the crawl every
SECONDS (auditor.cli.crawl.POLL_SECONDS) instead: what that interval costs. Nothing is asserted. Figures and findings:
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import _common
from _common import REPO, VENV_BIN, median, table, uv_env, uv_venv

from auditor.cli.serve import THREADS_PER_CORE, worker_command
from auditor.core.environments import import_names, installed_distributions
from auditor.core.pipeline import default_python
from auditor.core.probe.sandbox import probe_environment
from auditor.core.ranking import read_project_list, top_projects
from auditor.core.uv import uv_binary
from auditor.core.workspace import MEMORY, choose_work_root

# Small, popular, quick to install: pure Python or small binary wheels (pyyaml, markupsafe, charset-normalizer,
# wrapt, multidict, frozenlist, psutil), in the ranking's order. requests brings four more, python-dateutil six,
# jinja2 markupsafe.
PROJECTS = [
    "packaging",
    "requests",
    "typing-extensions",
    "python-dateutil",
    "pyyaml",
    "click",
    "pluggy",
    "attrs",
    "platformdirs",
    "filelock",
    "multidict",
    "pyasn1",
    "pytz",
    "frozenlist",
    "colorama",
    "wrapt",
    "pyparsing",
    "tomli",
    "psutil",
    "cachetools",
]
IMPORT_ALL = (
    "import importlib, sys\nfor m in sys.argv[1:]:\n    try: importlib.import_module(m)\n    except BaseException: pass"
)
# `forkaudit crawl` with another interval between the driver's looks at the crawl (auditor.cli.crawl.POLL_SECONDS)
POLLED = (
    "import sys, auditor.cli.crawl as c; from auditor.cli import main\n"
    "c.POLL_SECONDS = float(sys.argv[1]); sys.exit(main(sys.argv[2:]))"
)
START_TIMEOUT = 60.0
CRAWL_TIMEOUT = 1800.0


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cores(k: int) -> set[int]:
    return set(sorted(os.sched_getaffinity(0))[:k])


@contextlib.contextmanager
def pinned(cpus: set[int]) -> Iterator[None]:
    """This thread, and the threads and processes it starts meanwhile, on `cpus` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# --- the floor -----------------------------------------------------------------------------------------------------


@dataclass
class FloorRun:
    seconds: float
    installed: int = 0  # projects installed (the others were in an earlier project's set)
    imported: int = 0  # distributions imported
    modules: int = 0
    imports: dict[str, float] = field(default_factory=dict)  # distribution → seconds of its interpreter


def uv(args: Sequence[str]) -> None:
    done = subprocess.run([uv_binary(), *args], env=uv_env(), capture_output=True, text=True, umask=0o022)
    if done.returncode != 0:
        raise SystemExit(f"uv {' '.join(args[:2])} failed: {done.stderr[-3000:]}")


def floor(projects: Sequence[str], *, k: int, python: str, root: Path, workdir: Path) -> FloorRun:
    """Install each project into a fresh venv and deep-import what no earlier project brought, two at a time per core,
    on `k` cores."""
    jobs = 2 * k
    run = FloorRun(0.0)
    seen: set[str] = set()  # distributions imported (or being imported) by some project
    lock = threading.Lock()

    def one(index: int, project: str) -> None:
        with lock:
            if project in seen:
                return  # an earlier project's set had it: the crawl finds it known
            run.installed += 1
        env = uv_venv(root / f"floor{k}-{index}", python)
        try:
            uv(["pip", "install", "--quiet", "--python", str(env.python), "--only-binary", ":all:", project])
            for dist in installed_distributions(env):
                with lock:
                    if dist.name in seen:
                        continue
                    seen.add(dist.name)
                top, submodules = import_names(dist)
                with lock:
                    run.imported += 1
                    run.modules += len(top) + len(submodules)
                began = time.perf_counter()
                subprocess.run(
                    [str(env.python), "-c", IMPORT_ALL, *top, *submodules],
                    env=probe_environment(),
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=300,
                )
                run.imports[dist.name] = time.perf_counter() - began
        finally:
            shutil.rmtree(env.root, ignore_errors=True)

    os.sync()  # what earlier rows left to write back is not this row's (bench/README.md, finding 24)
    started = time.perf_counter()
    with pinned(cores(k)), ThreadPoolExecutor(jobs) as pool:  # its threads, and their processes, on the k cores
        for future in [pool.submit(one, index, project) for index, project in enumerate(projects)]:
            future.result()
    run.seconds = time.perf_counter() - started
    return run


# --- the crawl -----------------------------------------------------------------------------------------------------


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:]) if self.log.exists() else ""

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, then its whole process group after `grace` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()


def start(argv: Sequence[str], *, env: dict[str, str], log: Path) -> Child:
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, process_group=0
        )
    return Child(process, log)


def wait_until(predicate: Callable[[], bool], *, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what()}")
        time.sleep(0.1)


def start_redis(directory: Path) -> tuple[Child, str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (Debian package redis-server; scripts/setup --test)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = start(
        argv + ["--dir", str(directory), "--loglevel", "warning"], env=dict(os.environ), log=directory / "redis.log"
    )

    def answers() -> bool:
        if redis.process.poll() is not None:
            raise SystemExit(f"redis-server exited:\n{redis.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(answers, what=lambda: f"redis-server\n{redis.tail()}")
    return redis, f"redis://127.0.0.1:{port}/0"


@dataclass
class CrawlRun:
    seconds: float
    summary: list[str]
    phases: dict[str, list[float]] = field(default_factory=dict)  # per project: resolve, audit, probes, settle
    probes: dict[str, float] = field(default_factory=dict)  # distribution → its probe's stored seconds
    driver_cpu: float = 0.0  # CPU seconds of the `forkaudit crawl` process (the driver)

    @property
    def own_seconds(self) -> float:
        """The crawl's own life (its row's creation to its end): the command's start-up and end left out."""
        return self.seconds - self.phases["outside"][0]


def crawl(project_list: Path, *, workers: int, python: str, root: Path, poll: float | None = None) -> CrawlRun:
    """The crawl on `workers` cores: a worker on each, the driver and Redis on all of them."""
    with pinned(cores(workers)):
        return _crawl(project_list, workers=workers, python=python, root=root, poll=poll)


def _crawl(project_list: Path, *, workers: int, python: str, root: Path, poll: float | None) -> CrawlRun:
    root.mkdir()
    data = root / "data"
    redis, url = start_redis(root)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "UV_OFFLINE", "UV_FIND_LINKS")}
    env.update(
        DJANGO_SETTINGS_MODULE="auditor.project.settings",
        FORKAUDIT_DATA_DIR=str(data),
        CELERY_BROKER_URL=url,
        FORKAUDIT_PYTHON=python,
        FORKAUDIT_SEED="none",  # nothing known: every project is resolved and audited
        FORKAUDIT_VULNERABILITY_SERVICE="none",  # a crawl stores probe results; the floor looks nothing up either
        PYTHONUNBUFFERED="1",
    )
    children: list[Child] = []
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"], env=env, cwd=REPO, capture_output=True
        )
        if done.returncode != 0:
            raise SystemExit(f"migrate failed: {done.stderr[-2000:].decode(errors='replace')}")
        for number, cpu in enumerate(sorted(cores(workers)), start=1):
            # As `forkaudit serve` starts its worker on a machine of one core (its probes count the cores they may
            # run on: one).
            argv = worker_command(concurrency=THREADS_PER_CORE) + ["--hostname", f"bench{number}@%h"]
            with pinned({cpu}):
                worker = start(argv, env=env, log=root / f"worker{number}.log")
            children.append(worker)
            wait_until(
                lambda w=worker: w.process.poll() is None and " ready." in w.log.read_text(errors="replace"),
                what=lambda w=worker: f"worker to be ready\n{w.tail()}",
            )
        command = [str(VENV_BIN / "forkaudit")]
        if poll is not None:  # the experiment: the same command with the driver's poll interval changed
            command = [sys.executable, "-c", POLLED, str(poll)]
        command += ["crawl", "--from", str(project_list), "--concurrency", str(THREADS_PER_CORE * workers)]
        os.sync()
        cpu = _common.children_cpu()  # the workers are not waited for yet: this is the driver's alone
        started = time.perf_counter()
        done = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=CRAWL_TIMEOUT
        )
        seconds = time.perf_counter() - started
        driver_cpu = _common.children_cpu() - cpu
        if done.returncode != 0:
            logs = "\n".join(w.tail() for w in children)
            raise SystemExit(f"the crawl failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}\n{logs}")
    finally:
        for child in children:
            child.stop()
        redis.stop()
    summary = done.stdout.strip().splitlines()[-2:]
    database = data / "forkaudit.sqlite3"
    return CrawlRun(seconds, summary, phases(database, seconds), probe_seconds(database), driver_cpu)


def phases(database: Path, seconds: float) -> dict[str, list[float]]:
    """Per audited project: seconds from being handed out to its audit's submission, of its audit,
    of its audit's probes (their stored seconds, summed), and from the audit's end to the item's settling; and the
    command's `seconds` outside the crawl's own life (its creation to its end)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        created, ended = db.execute("SELECT created, finished FROM auditor_crawl").fetchone()
        rows = db.execute(
            "SELECT i.dispatched, a.created, a.started, "
            "(SELECT MIN(d.probing_since) FROM auditor_auditdistribution d WHERE d.audit_id = a.id), "
            "a.finished, i.finished, "
            "(SELECT COALESCE(SUM(p.seconds), 0) FROM auditor_auditdistribution d JOIN auditor_proberecord p "
            " ON p.id = d.probe_id WHERE d.audit_id = a.id AND d.cached = 0) "
            "FROM auditor_crawlitem i JOIN auditor_audit a ON a.id = i.audit_id WHERE i.outcome = 'probed'"
        ).fetchall()
    inside = (datetime.fromisoformat(ended) - datetime.fromisoformat(created)).total_seconds()
    found: dict[str, list[float]] = {phase: [] for phase, _ in PHASES}
    found["outside"].append(seconds - inside)
    for *stamps, probe_seconds in rows:
        dispatched, submitted, started, probing, audited, settled = (
            datetime.fromisoformat(stamp) if stamp else None for stamp in stamps
        )
        found["submit"].append((submitted - dispatched).total_seconds())
        found["audit"].append((audited - submitted).total_seconds())
        found["queued"].append((started - submitted).total_seconds())
        if probing is not None:  # None when nothing was left to probe
            found["prepare"].append((probing - started).total_seconds())
            found["analyse"].append((audited - probing).total_seconds())
        found["probes"].append(probe_seconds)
        found["settle"].append((settled - audited).total_seconds())
    return found


def probe_seconds(database: Path) -> dict[str, float]:
    """Each probed distribution's stored seconds: its probe and its re-imports, not the static scan beside them (the
    last version stored, if several were)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT name, seconds FROM auditor_proberecord"))


PHASES = (
    ("submit", "handed out → audit submitted (a refresh also resolves a known project here)"),
    ("audit", "audit submitted → finished"),
    ("queued", "… of which: submitted → its first task started"),
    ("prepare", "… then: resolve the audit's input, install the set (first task → first probe)"),
    ("analyse", "… then: probes, static scan, finish (first probe → audit finished)"),
    ("probes", "… its probes' stored seconds, summed"),
    ("settle", "audit finished → item settled (by the worker that ended it)"),
    ("outside", "the command's start-up and end (once per crawl, not per project)"),
)


# --- the run -------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="the projects, one a line (default: PROJECTS)")
    parser.add_argument("--python", default=default_python(), help="interpreter of every environment")
    parser.add_argument("--rounds", type=int, default=2, help="repetitions of each row (median used; default 2)")
    parser.add_argument(
        "--poll-experiment",
        type=float,
        metavar="SECONDS",
        help="also crawl with the driver looking at the crawl every SECONDS instead of every second",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    args = parser.parse_args()
    if args.source is not None:
        projects = read_project_list(args.source.read_text(encoding="utf-8"), source=str(args.source))
    else:
        ranked = set(top_projects(1000))
        missing = [p for p in PROJECTS if p not in ranked]
        assert not missing, f"not in the ranking's top 1,000: {missing}"
        projects = PROJECTS
    machine_cores = len(os.sched_getaffinity(0))
    if machine_cores < 2:
        raise SystemExit("this benchmark runs rows on one core and on two: it needs two cores it may run on")
    print(f"# crawl of {len(projects)} projects — {_common.machine()}; environments on {args.python}")
    tmp, workdir = _common.scratch()
    in_memory = choose_work_root(tmp).is_relative_to(MEMORY)  # where forkaudit's audits work: the floor too
    envs = Path(tempfile.mkdtemp(prefix="forkaudit-bench-", dir=MEMORY)) if in_memory else tmp / "envs"
    envs.mkdir(exist_ok=True)
    project_list = tmp / "projects.txt"
    project_list.write_text("".join(f"{p}\n" for p in projects))
    loads: list[str] = []
    kinds = ["floor", "crawl"] + (["poll"] if args.poll_experiment else [])
    runs: dict[tuple[str, int], list] = {(kind, k): [] for kind in kinds for k in (1, 2)}
    try:
        note("warming uv's cache (untimed)…")
        warm = uv_venv(envs / "warm", args.python)
        seconds, _ = _common.timed(
            lambda: [
                uv(["pip", "install", "--quiet", "--python", str(warm.python), "--only-binary", ":all:", p])
                for p in projects
            ]
        )
        shutil.rmtree(warm.root)
        note(f"  {seconds:.1f} s")
        for round_ in range(args.rounds):
            for k in (1, 2):
                for kind in kinds:
                    before = os.getloadavg()[0]
                    if kind == "floor":
                        run = floor(projects, k=k, python=args.python, root=envs, workdir=workdir)
                    else:
                        poll = args.poll_experiment if kind == "poll" else None
                        run = crawl(
                            project_list, workers=k, python=args.python, root=tmp / f"{kind}{k}-{round_}", poll=poll
                        )
                    runs[kind, k].append(run)
                    loads.append(f"{kind} {k}: {before:.2f} → {os.getloadavg()[0]:.2f}")
                    note(f"round {round_ + 1}: {kind}, k = {k}: {run.seconds:.1f} s ({loads[-1]})")
    finally:
        if args.keep:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(envs, ignore_errors=True)

    times = {key: median([run.seconds for run in values]) for key, values in runs.items()}
    f1, f2, c1, c2 = times["floor", 1], times["floor", 2], times["crawl", 1], times["crawl", 2]
    last = runs["floor", 1][-1]
    print(
        f"\n{len(projects)} projects, {last.installed} installed (the others were in an earlier set), "
        f"{last.imported} distributions, {last.modules} modules imported; {machine_cores} cores, rows on k of them\n"
    )
    print("\n".join(runs["crawl", 1][-1].summary) + "\n")
    names = {
        "floor": "floor: uv install + bare deep imports, 2k at once, on k cores",
        "crawl": "forkaudit crawl --concurrency 2k, k workers, each on a core",
        "poll": f"the same, the driver polling every {args.poll_experiment} s (an experiment)",
    }
    # A crawl's own span: its throughput over a list of thousands, where the command's start-up (once) weighs nothing.
    own = {(kind, k): median([run.own_seconds for run in runs[kind, k]]) for kind in kinds[1:] for k in (1, 2)}
    o1, o2 = own["crawl", 1], own["crawl", 2]
    rows = []
    for kind in kinds:
        one, two = times[kind, 1], times[kind, 2]
        samples = " / ".join(", ".join(f"{run.seconds:.1f}" for run in runs[kind, k]) for k in (1, 2))
        share = "" if kind == "floor" else f"{f1 / one:.2f}× / {f2 / two:.2f}×"
        rows.append([names[kind], f"{one:.1f}", f"{two:.1f}", f"{one / two:.2f}×", share, samples])
        if kind != "floor":
            one, two = own[kind, 1], own[kind, 2]
            samples = " / ".join(", ".join(f"{run.own_seconds:.1f}" for run in runs[kind, k]) for k in (1, 2))
            share = f"{f1 / one:.2f}× / {f2 / two:.2f}×"
            label = "… the crawl's own span (its start → its end: the command's start-up left out)"
            rows.append([label, f"{one:.1f}", f"{two:.1f}", f"{one / two:.2f}×", share, samples])
    headers = ["what", "k = 1, s", "k = 2, s", "2 vs 1", "throughput ÷ floor's, k = 1 / 2", "samples, s"]
    print(table(headers, rows))
    print(f"\nload average (1 min) before → after each row: {'; '.join(loads)}; {_common.load()} at the end")

    print(
        "\nWhere the crawl's time goes (the last round; per audited project, median and sum, seconds; with two "
        "workers two projects overlap):\n"
    )
    profile = []
    for kind in kinds[1:]:
        for k in (1, 2):
            run = runs[kind, k][-1]
            for phase, meaning in PHASES:
                values = run.phases[phase] or [0.0]
                profile.append([f"{kind}, k = {k}", phase, f"{median(values):.2f}", f"{sum(values):.1f}", meaning])
    print(table(["crawl", "phase", "median", "sum", "what"], profile))
    print(
        "\nCPU seconds of the driver (the `forkaudit crawl` process; its workers' are not in it): "
        + "; ".join(
            f"{kind}, k = {k}: " + ", ".join(f"{run.driver_cpu:.2f}" for run in runs[kind, k])
            for kind in kinds[1:]
            for k in (1, 2)
        )
    )

    floor_run, crawl_run = runs["floor", 1][-1], runs["crawl", 1][-1]
    gaps = sorted(
        (
            (crawl_run.probes[name] - seconds, name, seconds, crawl_run.probes[name])
            for name, seconds in floor_run.imports.items()
            if name in crawl_run.probes
        ),
        reverse=True,
    )
    total = sum(gap for gap, *_ in gaps)
    print(
        f"\nThe probes against the floor's bare imports (the last round, k = 1; {len(gaps)} distributions: "
        f"{sum(g[3] for g in gaps):.1f} s against {sum(g[2] for g in gaps):.1f} s, {total:+.1f} s), "
        "the largest differences:\n"
    )
    print(
        table(
            ["distribution", "bare import, s", "probe, s", "difference, s"],
            [[name, f"{bare:.2f}", f"{probe:.2f}", f"{gap:+.2f}"] for gap, name, bare, probe in gaps[:12]],
        )
    )

    print("\nTargets:")
    checks = []
    for span, one, two in (("the whole command", c1, c2), ("the crawl's own span", o1, o2)):
        checks += [
            (f"crawl ≥ 0.8 × the floor's throughput, one at a time ({span})", f1 / one >= 0.8, f"{f1 / one:.2f}×"),
            (f"crawl ≥ 0.8 × the floor's throughput, two at once ({span})", f2 / two >= 0.8, f"{f2 / two:.2f}×"),
            (
                f"two workers ≥ 1.8 × one, each on a core of its own ({span})",
                one / two >= 1.8,
                f"{one / two:.2f}× (the floor's own: {f1 / f2:.2f}×)",
            ),
        ]
    for name, met, detail in checks:
        print(f"- {name}: {'MET' if met else 'MISSED'} — {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
