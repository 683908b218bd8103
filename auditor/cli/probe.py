"""`forkaudit probe MODULE --python PATH`: one probe of one module, JSON on stdout (for debugging)."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from auditor.cli.common import EXIT_OK, UsageError, positive_float
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.runner import ModuleSpec, probe_modules
from auditor.core.probe.sandbox import Limits, SandboxUnavailable, sandbox_for


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "probe",
        help="probe one module (debugging)",
        description="Import MODULE in a fresh sandboxed interpreter and print what it did.",
    )
    parser.add_argument("module", metavar="MODULE")
    parser.add_argument(
        "--python",
        required=True,
        type=Path,
        metavar="PATH",
        help="the interpreter of the environment where MODULE is installed (e.g. .venv/bin/python)",
    )
    parser.add_argument("--timeout", type=positive_float, default=60.0, metavar="SECONDS")
    parser.add_argument("--sandbox", choices=("bwrap", "none"), default="bwrap")
    parser.set_defaults(run=run)


def _interpreter_paths(python: Path) -> tuple[Path, Path, Path]:
    """The environment's root, the interpreter's installation and the environment's site-packages."""
    script = (
        "import json, sys, sysconfig; print(json.dumps([sys.prefix, sys.base_prefix, sys.version_info[:2], "
        "sysconfig.get_path('purelib')]))"
    )
    try:
        # -I -S: no `.pth` file, nothing of the environment's packages, runs outside the sandbox.
        done = subprocess.run([str(python), "-I", "-S", "-c", script], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise UsageError(f"--python: cannot run {python}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        raise UsageError(f"--python: {python} is not a working Python interpreter")
    prefix, base_prefix, (major, minor), purelib = json.loads(done.stdout)
    root = python.absolute().parent.parent
    if (root / "pyvenv.cfg").exists():  # a virtualenv: `site` would have made it the prefix
        from auditor.core.environments import venv_site_packages

        return root, Path(base_prefix).resolve(), venv_site_packages(root, f"{major}.{minor}")
    return Path(prefix), Path(base_prefix).resolve(), Path(purelib)


def run(args: argparse.Namespace) -> int:
    if not args.module.replace(".", "").replace("_", "").isalnum():
        raise UsageError(f"not a module name: {args.module!r}")
    prefix, base_prefix, site_packages = _interpreter_paths(args.python)
    try:
        sandbox = sandbox_for(args.sandbox)
    except SandboxUnavailable as exc:
        raise UsageError(str(exc)) from exc
    from auditor.core.environments import AuditEnvironment, file_owners, installed_distributions
    from auditor.core.probe.evidence import findings_from_report

    env = AuditEnvironment(prefix, args.python, site_packages, base_prefix, "", "", Path(args.python).resolve())
    distributions = installed_distributions(env)
    attributor = Attributor(file_owners(env, distributions), site_packages)
    outcomes, report = probe_modules(
        [ModuleSpec(args.module)],
        python=args.python,
        sandbox=sandbox,
        binds=env.sandbox_binds,
        limits=Limits(wall_seconds=args.timeout),
    )
    by_distribution = {}
    for dist in distributions:
        findings, fork_aware = findings_from_report(report or {}, attributor=attributor, distribution=dist.name)
        if findings:
            by_distribution[dist.name] = {"fork_aware": fork_aware, "findings": [f.to_dict() for f in findings]}
    print(
        json.dumps(
            {
                "module": args.module,
                "sandbox": sandbox.name,
                "outcome": outcomes[args.module].to_dict(),
                "distributions": by_distribution,
                "raw": report,
            },
            indent=2,
            default=str,
        )
    )
    return EXIT_OK
