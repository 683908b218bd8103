"""Compiling an audit environment's bytecode, in the sandbox.

A probe sees the environment read-only, so the bytecode an interpreter would write is lost: compiling a module once
can pay off when two interpreters or more import it, that is for a distribution that is probed and also required by
another probed one, or required by two (`shared_distributions`), and when there is much of it (`worth_compiling`).
An interpreter that is alone to import a module compiles it as it goes, no slower. Compiling runs no
package code (the interpreter starts with `-I -S`, so no `.pth` file runs), but it reads every file a wheel brought,
so it runs like a probe: in the sandbox, without network, without capabilities, allowed to write site-packages only.
(uv's `--compile-bytecode` would start the environment's interpreter with `site`, and so run every `.pth` file, on
the host.)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

from auditor.core.environments import AuditEnvironment, InstalledDistribution, is_test_code
from auditor.core.probe.sandbox import Confined, Limits, Sandbox, run_confined
from auditor.core.resolve import Resolution

# Directories that no probe imports (auditor.core.environments.NON_PUBLIC_PARTS) and that a library's own code does
# not either: most of the files of sets such as pandas' (bench/README.md). `testing` packages stay: libraries import
# them (pandas._testing, numpy.testing).
NOT_IMPORTED = r"(tests?|_tests|testsuite|examples?|benchmarks)"
MIN_SHARED_SOURCE_BYTES = 2 * 2**20  # of Python source in the shared distributions, tests left out


def discard_shipped_bytecode(env: AuditEnvironment) -> None:
    """Delete the bytecode caches that wheels brought. An interpreter may run a cached module's bytecode without
    comparing it with the source (an unchecked hash-based .pyc), so a wheel that ships the cache of another
    distribution's module would run its own code in that distribution's probe and forge its result: the only
    bytecode a probe may read is what `compile_environment` made from the sources, in the sandbox. Runs no package
    code; follows no symbolic link."""
    for root, directories, _ in os.walk(env.site_packages):
        if "__pycache__" in directories:
            directories.remove("__pycache__")
            cache = Path(root) / "__pycache__"
            if cache.is_symlink():
                cache.unlink()
            else:
                shutil.rmtree(cache)


def shared_distributions(resolution: Resolution, probed: Collection[str]) -> set[str]:
    """The distributions whose modules two probes or more import: each probe imports its own distribution's and,
    through them, those of everything it requires, directly or not."""
    importers = Counter(name for probe in set(probed) for name in {probe} | resolution.dependencies_of(probe))
    return {name for name, count in importers.items() if count > 1}


def worth_compiling(env: AuditEnvironment, distributions: Sequence[InstalledDistribution]) -> bool:
    """Whether compiling the shared `distributions` ahead saves the probes more than it costs. Compiling has a fixed
    cost (a sandbox, an interpreter, compileall's start) and compiles whole directories, most of which a small set's
    probes never import: it pays only on much shared source (bench/README.md, finding 48)."""
    total = 0
    for dist in distributions:
        for relative in dist.module_files():
            if relative.endswith(".py") and not is_test_code(relative):
                with contextlib.suppress(OSError):
                    total += os.lstat(env.site_packages / relative).st_size
                if total >= MIN_SHARED_SOURCE_BYTES:
                    return True
    return False


def compile_environment(
    env: AuditEnvironment,
    distributions: Sequence[InstalledDistribution],
    *,
    sandbox: Sandbox,
    jobs: int,
    timeout: float = 600,
) -> Confined | None:
    """Compile the modules of `distributions` (installed in `env`) that the probes may import; None if there is
    none. A file that does not compile, or that was left out, is compiled by the probe that imports it (or reported
    as a SyntaxError): a file missed here costs time, never a result."""
    # Each distribution's top-level packages and modules: compileall compiles directories on `jobs` processes (a
    # namespace package's directory holds other distributions' modules too, compiled for nothing).
    tops = sorted({f.split("/", 1)[0] for dist in distributions for f in dist.module_files() if f.endswith(".py")})
    if not tops:
        return None
    listing = env.root / "compile.txt"  # read inside the sandbox: an argument list could outgrow the kernel's limit
    listing.write_text("".join(f"{env.site_packages / top}\n" for top in tops))
    skipped = f"^{re.escape(str(env.site_packages))}/(.+/)?{NOT_IMPORTED}/"  # matched against whole paths
    argv = [str(env.interpreter), "-I", "-S", "-m", "compileall", "-q", "-x", skipped, "-j", str(max(1, jobs))]
    argv += ["-i", str(listing)]
    limits = Limits(wall_seconds=timeout, cpu_seconds=int(timeout) * max(1, jobs), file_bytes=256 * 2**20)
    return run_confined(
        argv, sandbox=sandbox, binds=env.sandbox_binds, writable=[env.site_packages], keep_uid=True, limits=limits
    )
