"""Probe overhead: what one probe of a small package costs over a bare `python -c "import X"`.

Run:  .venv/bin/python bench/probe_overhead.py [--repeat N] [--python /usr/bin/python3.11]

It builds one audit environment (forkaudit's own `create_environment` + `install`) on a world-readable interpreter,
with a tiny wheel made by tests/wheelfactory.py and three small real packages from PyPI (six, idna, packaging,
pinned below), then times, N times each (interleaved, after one untimed warm-up), for each package's top-level
module X:

  (a) bare       ENV/bin/python -c "import X"   (the scrubbed probe environment, no sandbox)
  (b) bwrap      the same command inside the sandbox only (bwrap + setpriv/user namespace + prlimit), no bootstrap
  (c0) bootstrap, no sandbox   runner.run_bootstrap for X with the "none" sandbox (prlimit only): the bootstrap's
                 own cost (instruments, JSON report) without bwrap
  (c) bootstrap  runner.run_bootstrap for X: sandbox + bootstrap + instruments (the 0.2 s settle is only waited
                 when the import started something, which none of these does)
  (d) shallow    probe_distribution, top-level modules only, mitigations off
  (e) deep       probe_distribution with the default options (public submodules, mitigations on)

and prints the median and 90th percentile of each, with the ratio of each median to (a)'s median.
Nothing is asserted: the figures are for reading (bench/README.md keeps the last ones measured).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import _common
from _common import median, p90, ratio, table, timed

from auditor.core.environments import create_environment, file_owners, import_names, install, installed_distributions
from auditor.core.probe import ProbeOptions, probe_distribution
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.runner import ModuleSpec, run_bootstrap
from auditor.core.probe.sandbox import Limits, Sandbox, probe_environment, sandbox_for
from tests.wheelfactory import build_wheel

REAL_PACKAGES = ("six==1.17.0", "idna==3.20", "packaging==26.3")
TINY = "benchtiny"
DEFAULT_OPTIONS = ProbeOptions()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed repetitions of each measurement (default 20)")
    parser.add_argument("--python", default="/usr/bin/python3.11", help="interpreter the audit environment is built on")
    args = parser.parse_args()

    print(f"# probe overhead — {_common.machine()}")
    sandbox = sandbox_for("bwrap")
    unconfined = sandbox_for("none")
    limits = Limits()
    scrubbed = probe_environment()
    with tempfile.TemporaryDirectory(prefix="forkaudit-bench-") as tmp:
        tmp_path = Path(tmp)
        wheel_dir = tmp_path / "wheels"
        wheel_dir.mkdir()
        tiny = build_wheel(wheel_dir, TINY, {f"{TINY}/__init__.py": "VALUE = 1\n", f"{TINY}/sub.py": "OTHER = 2\n"})
        env = create_environment(tmp_path / "env", python=args.python)
        setup_seconds, _ = timed(lambda: install(env, requirements=REAL_PACKAGES, wheels=[tiny]))
        distributions = installed_distributions(env)
        attributor = Attributor(file_owners(env, distributions), env.site_packages)
        print(
            f"environment: {env.python} (Python {env.python_version}), installed in {setup_seconds:.2f} s; "
            f"sandbox {sandbox.name}; {args.repeat} repetitions\n"
        )
        workdir = tmp_path / "cwd"
        workdir.mkdir()

        rows = []
        for dist in sorted(distributions, key=lambda d: (d.name != TINY, d.name)):
            top_level, submodules = import_names(dist)
            module = top_level[0]

            def bare(module: str = module) -> None:
                _check(
                    subprocess.run(
                        [str(env.python), "-c", f"import {module}"],
                        env=scrubbed,
                        cwd=workdir,
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                    ),
                    "bare import",
                )

            def bwrap_only(module: str = module) -> None:
                command = sandbox.wrap(
                    [str(env.python), "-c", f"import {module}"], binds=env.sandbox_binds, env=scrubbed, limits=limits
                )
                _check(
                    subprocess.run(command, env=scrubbed, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True),
                    "bwrap import",
                )

            def bootstrap(module: str = module, box: Sandbox = sandbox) -> None:
                run = run_bootstrap(
                    python=env.python,
                    modules=[ModuleSpec(module, True)],
                    sandbox=box,
                    binds=env.sandbox_binds,
                    limits=limits,
                )
                if run.done is None:
                    raise SystemExit(f"bootstrap of {module} gave no report: {run.failure()}")

            def probe(dist=dist, options: ProbeOptions = DEFAULT_OPTIONS) -> None:
                result = probe_distribution(dist, env=env, attributor=attributor, sandbox=sandbox, options=options)
                if result.error or any(m.status != "ok" for m in result.modules if m.top_level):
                    raise SystemExit(f"probe of {dist.name} failed: {result}")

            measurements: list[tuple[str, Callable[[], None]]] = [
                ("(a) bare python -c import", bare),
                ("(b) bwrap only", bwrap_only),
                ("(c0) run_bootstrap, no sandbox (prlimit only)", lambda: bootstrap(box=unconfined)),
                ("(c) run_bootstrap (bwrap)", bootstrap),
                (
                    "(d) probe_distribution shallow, no mitigations",
                    lambda: probe(options=ProbeOptions(shallow=True, verify_mitigations=False)),
                ),
                ("(e) probe_distribution deep (default)", probe),
            ]
            samples: dict[str, list[float]] = {name: [] for name, _ in measurements}
            for _, function in measurements:
                function()  # warm-up: page cache, bytecode, bwrap's first start
            for _ in range(args.repeat):
                for name, function in measurements:  # interleaved, so that drift hits every row alike
                    samples[name].append(timed(function)[0])
            base = median(samples[measurements[0][0]])
            label = f"{dist.name} {dist.version} (`{module}`, {len(submodules)} public submodules)"
            for name, _ in measurements:
                values = samples[name]
                rows.append(
                    [
                        label,
                        name,
                        f"{median(values) * 1000:.1f}",
                        f"{p90(values) * 1000:.1f}",
                        ratio(median(values), base),
                    ]
                )
                label = ""
            print(f"measured {dist.name}", file=sys.stderr)

        print(table(["package", "measurement", "median ms", "p90 ms", "median / (a)"], rows))
        print(f"\n{_common.load()} at the end")
    return 0


def _check(done: subprocess.CompletedProcess[bytes], what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")


if __name__ == "__main__":
    sys.exit(main())
