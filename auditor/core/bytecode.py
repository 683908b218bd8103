"""Compiling an audit environment's bytecode, in the sandbox.

A probe sees the environment read-only, so the bytecode an interpreter would write is lost: compiling once pays off
when many modules are imported (deep probes). Compiling runs no package code (the interpreter starts with `-I -S`, so
no `.pth` file runs), but it reads every file a wheel brought, so it runs like a probe: in the sandbox, without
network, without capabilities, allowed to write site-packages only. (uv's `--compile-bytecode` would start the
environment's interpreter with `site`, and so run every `.pth` file, on the host.)
"""

from __future__ import annotations

from auditor.core.environments import AuditEnvironment
from auditor.core.probe.sandbox import Confined, Limits, Sandbox, run_confined

# Directories that no probe imports (auditor.core.environments.NON_PUBLIC_PARTS) and that a library's own code does
# not either: most of the files of sets such as pandas' (bench/README.md). `testing` packages stay: libraries import
# them (pandas._testing, numpy.testing).
NOT_IMPORTED = r"/(tests?|_tests|testsuite|examples?|benchmarks)/"


def compile_environment(env: AuditEnvironment, *, sandbox: Sandbox, jobs: int, timeout: float = 600) -> Confined:
    """Compile the modules of `env`'s site-packages that the probes may import. A file that does not compile, or
    that was left out, is compiled by the probe that imports it (or reported as a SyntaxError): a file missed here
    costs time, never a result."""
    argv = [str(env.interpreter), "-I", "-S", "-m", "compileall", "-q", "-x", NOT_IMPORTED, "-j", str(max(1, jobs))]
    argv.append(str(env.site_packages))
    limits = Limits(wall_seconds=timeout, cpu_seconds=int(timeout) * max(1, jobs), file_bytes=256 * 2**20)
    return run_confined(
        argv, sandbox=sandbox, binds=env.sandbox_binds, writable=[env.site_packages], keep_uid=True, limits=limits
    )
