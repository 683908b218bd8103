"""Where an audit's time goes: the pipeline's stages timed one by one, in this process, on a requirements file.

Run:  .venv/bin/python bench/profile_audit.py [--requirements bench/requirements-60.txt] [--python PATH] [--deep]

Companion of bench/audit_set.py, for when it misses a target. It calls the same functions the CLI's `run_audit` calls
(auditor.core.pipeline), but one stage at a time, and prints:

  start-up  importing the CLI's modules, django.setup(), migrate with nothing to do
  stages    resolve (uv pip compile), create the venv, install (uv; --compile-bytecode for a deep audit only, as the
            pipeline does), read RECORDs, file owners; the other install (with or without bytecode), for comparison
  static    the static scan of every distribution, sequentially, split into its cheap filter (read + regex + CPython
            parse) and libcst, with file counts; then scan_files with jobs=cores (spawned workers) on all files at once
  probes    every distribution probed sequentially as the pipeline would (--shallow unless --deep; mitigations on),
            with the number of interpreters each started (mitigation re-runs included)
  overlap   analyse_distributions (static scans in spawned workers beside the probes) for every distribution,
            exactly as run_audit does: wall time against the sequential sums above

Nothing is asserted and no result is stored.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common
from _common import BENCH, REPO, table, timed

import auditor.core.probe as probe_package
from auditor.core import static
from auditor.core.environments import create_environment, file_owners, install, installed_distributions
from auditor.core.pipeline import (
    AuditInput,
    AuditOptions,
    analyse_distributions,
    build_environment,
    default_python,
    resolve_input,
)
from auditor.core.probe import probe_distribution
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.sandbox import sandbox_for
from auditor.core.static import libcst_pass, prefilter

# The last component of every watched call (static.THREAD_CALLS, FORK_CALLS, ATFORK_CALL), and "dummy" for
# multiprocessing.dummy.Pool: a call can only resolve to a watched name if one of these appears as a name, an
# attribute or an imported name in the file.
_LEAVES = frozenset(
    name.rsplit(".", 1)[-1] for name in static.THREAD_CALLS | static.FORK_CALLS | {static.ATFORK_CALL}
) | {"dummy"}


def _names_a_watched_leaf(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _LEAVES:
            return True
        if isinstance(node, ast.Name) and node.id in _LEAVES:
            return True
        if isinstance(node, ast.ImportFrom) and any(alias.name in _LEAVES for alias in node.names):
            return True
    return False


def what_if(parsed: list[tuple[Path, bytes, float, int]], root: Path) -> None:
    """What the libcst part of the scan would cost with cheaper rules, from the per-file costs just measured (`parsed`
    holds each file's excerpt, what libcst read)."""
    total = sum(seconds for _, _, seconds, _ in parsed)
    findings = sum(found for _, _, _, found in parsed)
    tests = [p for p in parsed if {"test", "tests", "testing"} & set(p[0].relative_to(root).parts[:-1])]
    started = time.perf_counter()
    trees = []
    for _, text, _, _ in parsed:
        try:
            trees.append(compile(text, "<scanned>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            trees.append(None)
    parse_seconds = time.perf_counter() - started
    tight = [p for p, tree in zip(parsed, trees, strict=True) if tree is None or _names_a_watched_leaf(tree)]
    started = time.perf_counter()
    nodes = sum(1 for tree in trees if tree is not None for _ in ast.walk(tree))
    walk_seconds = time.perf_counter() - started
    slowest = sorted(parsed, key=lambda p: -p[2])[:5]
    print(
        f"\nlibcst on {len(parsed)} files: {total:.2f} s, {findings} findings; slowest: "
        + ", ".join(f"{p[0].relative_to(root)} {p[2]:.2f} s" for p in slowest)
    )
    print(
        f"- files under test/tests/testing: {len(tests)}, {sum(p[2] for p in tests):.2f} s of libcst, "
        f"{sum(p[3] for p in tests)} findings"
    )
    print(
        f"- a tighter filter (the AST names a watched call's last component: {', '.join(sorted(_LEAVES))}) keeps "
        f"{len(tight)} files: {sum(p[2] for p in tight):.2f} s of libcst, {sum(p[3] for p in tight)} of the "
        f"{findings} findings"
    )
    print(
        f"- CPython's own parser on the same {len(parsed)} excerpts: {parse_seconds:.2f} s, a full ast.walk over "
        f"them ({nodes} nodes): {walk_seconds:.2f} s (the order of an ast-based scanner's cost on them)"
    )


def startup() -> None:
    """What `forkaudit audit` pays before it does anything: importing the CLI, and Django."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import auditor.cli.audit"], capture_output=True, text=True, cwd=REPO
    )
    cumulative = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            cumulative[parts[2].strip()] = int(parts[1]) / 1e6
    watched = [
        "auditor.cli.audit",
        "auditor.core.vulns",
        "pip_audit._service",
        "pip_api",
        "auditor.core.static",
        "libcst",
        "requests",
    ]
    print("\n## start-up\n")
    print(
        "import (cumulative, -X importtime): "
        + ", ".join(f"{m} {cumulative[m]:.2f} s" for m in watched if m in cumulative)
    )
    code = (
        "import os, time; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'auditor.project.settings'); import django; "
        "t = time.perf_counter(); django.setup(); s = time.perf_counter() - t; "
        "from django.core.management import call_command; t = time.perf_counter(); "
        "call_command('migrate', verbosity=0, interactive=False); print(f'{s:.2f} {time.perf_counter() - t:.2f}')"
    )
    with tempfile.TemporaryDirectory() as data:
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=dict(os.environ, FORKAUDIT_DATA_DIR=data),
        )  # creates the database
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=dict(os.environ, FORKAUDIT_DATA_DIR=data),
        )
    setup, migrate = done.stdout.split()
    print(f"django.setup() {setup} s; migrate with nothing to do {migrate} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=BENCH / "requirements-60.txt")
    parser.add_argument("--python", default=default_python())
    parser.add_argument("--deep", action="store_true", help="profile the default (deep) probe instead of --shallow")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    requirements = tuple(
        line.split("#")[0].strip() for line in args.requirements.read_text().splitlines() if line.split("#")[0].strip()
    )
    options = AuditOptions(shallow=not args.deep, python=args.python, no_cache=True)
    mode = "deep" if args.deep else "shallow"
    print(f"# profile of an audit of {args.requirements.name} ({mode}) — {_common.machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="forkaudit-profile-"))
    os.chmod(tmp, 0o755)
    try:
        stage_rows = []
        seconds, resolution = timed(
            lambda: resolve_input(AuditInput(requirements=requirements), workdir=tmp / "w", options=options)
        )
        stage_rows.append(["resolve (uv pip compile)", f"{seconds:.2f}", f"{len(resolution.pins)} pins"])
        seconds, prepared = timed(lambda: build_environment(resolution, workdir=tmp / "w", options=options))
        flags = "" if options.shallow else " + bytecode compiled in the sandbox"
        stage_rows.append([f"build_environment (venv + install{flags} + RECORDs)", f"{seconds:.2f}", ""])
        env = prepared.env
        pinned = [f"{n}=={v}" for n, v in sorted(resolution.pins.items())]
        seconds, other = timed(lambda: create_environment(tmp / "venv-only", python=args.python))
        stage_rows.append(
            ["  of which: create_environment alone", f"{seconds:.2f}", "a PEP 405 layout written in place"]
        )
        seconds, _ = timed(lambda: install(other, requirements=pinned, no_deps=True))
        stage_rows.append(["  of which: install alone", f"{seconds:.2f}", ""])
        seconds, dists = timed(lambda: installed_distributions(env))
        stage_rows.append(["installed_distributions (read RECORDs)", f"{seconds:.2f}", f"{len(dists)} distributions"])
        seconds, owners = timed(lambda: file_owners(env, dists))
        stage_rows.append(["file_owners (every RECORD path)", f"{seconds:.2f}", f"{len(owners)} files"])
        startup()
        print("\n## stages\n")
        print(table(["stage", "seconds", "notes"], stage_rows))

        # Static scan, per distribution, split into filter and libcst.
        static_rows = []
        totals = Counter()
        per_dist_static: dict[str, float] = {}
        all_files: list[Path] = []
        parsed_files: list[tuple[Path, bytes, float, int]] = []  # (file, text, libcst seconds, findings)
        for dist in dists:
            files = [env.site_packages / f for f in dist.module_files() if f.endswith(".py")]
            all_files += files
            t0 = time.perf_counter()
            mentioned = [(f, text) for f in files if (text := prefilter.read_candidate(f))]
            t1 = time.perf_counter()
            worth = [(f, excerpt) for f, text in mentioned if (excerpt := prefilter.worth_parsing(text)) is not None]
            t2 = time.perf_counter()
            findings = []
            for f, excerpt in worth:  # static.scan_batch, one file at a time, to keep each file's cost
                started = time.perf_counter()
                found = libcst_pass.findings_in(static._source_file(f, env.site_packages), excerpt)
                parsed_files.append((f, excerpt.text, time.perf_counter() - started, len(found)))
                findings += found
            t3 = time.perf_counter()
            per_dist_static[dist.name] = t3 - t0
            totals.update(files=len(files), mentioned=len(mentioned), parsed=len(worth), findings=len(findings))
            totals["read_regex"] += t1 - t0
            totals["ast_filter"] += t2 - t1
            totals["libcst"] += t3 - t2
            static_rows.append(
                [
                    dist.name,
                    len(files),
                    len(mentioned),
                    len(worth),
                    f"{t1 - t0:.2f}",
                    f"{t2 - t1:.2f}",
                    f"{t3 - t2:.2f}",
                    f"{t3 - t0:.2f}",
                ]
            )
        static_rows.sort(key=lambda r: -float(r[-1]))
        total_static = totals["read_regex"] + totals["ast_filter"] + totals["libcst"]
        static_rows = static_rows[:10] + [
            [
                "ALL (sequential)",
                totals["files"],
                totals["mentioned"],
                totals["parsed"],
                f"{totals['read_regex']:.2f}",
                f"{totals['ast_filter']:.2f}",
                f"{totals['libcst']:.2f}",
                f"{total_static:.2f}",
            ]
        ]
        print("\n## static scan (per distribution, in this process)\n")
        print(
            table(
                [
                    "distribution",
                    ".py files",
                    "mention a name",
                    "parsed by libcst",
                    "read+regex s",
                    "ast filter s",
                    "libcst s",
                    "total s",
                ],
                static_rows,
            )
        )
        what_if(parsed_files, env.site_packages)
        seconds, _ = timed(lambda: static.scan_files(all_files, root=env.site_packages, jobs=cores))
        print(
            f"scan_files(all {len(all_files)} files, jobs={cores}) in spawned workers: {seconds:.2f} s "
            f"(sequential: {total_static:.2f} s)"
        )

        # Probes, sequential, counting interpreters.
        sandbox = sandbox_for(options.sandbox)
        attributor = Attributor(owners, env.site_packages)
        interpreters = Counter()
        original = probe_package.probe_modules

        def counting(modules, **kwargs):
            interpreters[current[0]] += 1
            return original(modules, **kwargs)

        current = [""]
        probe_package.probe_modules = counting
        probe_rows = []
        per_dist_probe: dict[str, float] = {}
        try:
            for dist in dists:
                current[0] = dist.name
                seconds, result = timed(
                    lambda d=dist: probe_distribution(
                        d, env=env, attributor=attributor, sandbox=sandbox, options=options.probe_options()
                    )
                )
                per_dist_probe[dist.name] = seconds
                probe_rows.append(
                    [
                        dist.name,
                        f"{seconds:.2f}",
                        len(result.modules),
                        interpreters[dist.name],
                        f"{sum(m.import_seconds for m in result.modules):.2f}",
                    ]
                )
        finally:
            probe_package.probe_modules = original
        probe_rows.sort(key=lambda r: -float(r[1]))
        total_probe = sum(per_dist_probe.values())
        runs = sum(interpreters.values())
        print(f"\n## probes ({mode}, mitigations on), sequential\n")
        print(
            table(
                ["distribution", "probe s", "modules", "interpreters", "Σ import_seconds"],
                probe_rows[:10] + [["ALL (sequential)", f"{total_probe:.2f}", "", runs, ""]],
            )
        )
        print(
            f"\n{runs} interpreters for {len(dists)} distributions: "
            f"{runs - len(dists)} re-runs (mitigation knobs or killed interpreters)"
        )

        # The pipeline's own overlap: scans in the scanner's processes beside the probes, `cores` of each.
        def overlap() -> None:
            with static.Scanner(static.scan_workers(options.jobs)) as scanner:
                list(
                    analyse_distributions(
                        dists, env=env, installed=dists, sandbox=sandbox, options=options, scanner=scanner
                    )
                )

        seconds, _ = timed(overlap)
        sequential = total_static + total_probe
        print(
            f"\n## overlap\n\nanalyse_distributions × {len(dists)} on {cores} cores (as run_audit): "
            f"{seconds:.2f} s wall; "
            f"sequential sums: static {total_static:.2f} s + probes {total_probe:.2f} s = {sequential:.2f} s "
            f"(÷ {cores} = {sequential / cores:.2f} s if it parallelised perfectly)"
        )
        static_share = sorted(per_dist_static.items(), key=lambda kv: -kv[1])[:3]
        print(f"largest static scans: {', '.join(f'{n} {s:.1f} s' for n, s in static_share)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
