"""An audit of a set with source-only distributions, against the same set installed by uv building them on the host.

Run:  .venv/bin/python bench/source_set.py [--requirements bench/requirements-sources.txt] [--python PATH] [--rounds 3]

The floor here is what a plain install of such a set costs: `uv venv` + `uv pip install -r FILE` (uv builds the
source distributions itself, on the host, unsandboxed; `--refresh-package` for each of them so that it builds them
again every round instead of reusing its cached wheels, as forkaudit's first audit does) + bare imports / cores.
Against it: `forkaudit audit -r FILE --shallow --no-cache` (each source distribution fetched, its build requirements
installed from wheels, built in the sandbox without network; then the usual audit). Rounds alternate the two, and the
median of the per-round ratios is printed beside the medians. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import _common
from _common import BENCH, cpu_timed, median, ratio, table
from audit_set import bare_imports, forkaudit, migrate, run_uv, settle_deletions

from auditor.core.pipeline import default_python

DEFAULT_REQUIREMENTS = BENCH / "requirements-sources.txt"
SOURCE_ONLY = ("fysom", "docopt", "sgmllib3k")


def host_install(root: Path, requirements: Path, python: str):
    env = _common.uv_venv(root, python)
    refresh = [arg for name in SOURCE_ONLY for arg in ("--refresh-package", name)]
    run_uv(["pip", "install", "--quiet", "--python", str(env.python), "-r", str(requirements), *refresh])
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS)
    parser.add_argument("--python", default=default_python())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    requirements = args.requirements.resolve()
    cores = os.cpu_count() or 1
    print(f"# audit of {requirements.name} — {_common.machine()}; environments on {args.python}")
    tmp, workdir = _common.scratch()
    floors, audits, ratios, built = [], [], [], []
    try:
        host_install(tmp / "warm", requirements, args.python)  # warms uv's cache (untimed)
        for round_ in range(args.rounds):
            seconds, _, env = cpu_timed(lambda r=round_: host_install(tmp / f"host{r}", requirements, args.python))
            imports, modules, failed = bare_imports(env, workdir)
            floors.append(seconds + imports / cores)
            data = tmp / f"data{round_}"
            migrate(data)
            _, _, run = cpu_timed(
                lambda d=data, r=round_: forkaudit(
                    requirements, d, args.python, tmp / f"audit{r}.json", "--shallow", "--no-cache"
                )
            )
            settle_deletions(data)
            audits.append(run.seconds)
            ratios.append(run.seconds / floors[-1])
            built = sorted(d["name"] for d in run.report["distributions"] if d.get("built_from_source"))
            print(f"round {round_ + 1}: floor {floors[-1]:.2f} s, forkaudit {run.seconds:.2f} s", file=sys.stderr)
        rows = [
            [
                "floor = uv install building on the host + bare imports / cores",
                f"{median(floors):.2f}",
                "1.00×",
                f"{modules} modules, {failed} failed",
            ],
            [
                "forkaudit first (--shallow --no-cache), building in the sandbox",
                f"{median(audits):.2f}",
                ratio(median(audits), median(floors)),
                f"built from source: {', '.join(built)}; per-round ratios {', '.join(f'{r:.2f}×' for r in ratios)}",
            ],
        ]
        print(table(["what", "wall s (median)", "× floor", "notes"], rows))
        print(f"\nmedian of the per-round ratios: {median(ratios):.2f}×; {_common.load()} at the end")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
