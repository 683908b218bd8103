"""Limits that hold for the whole probe: no nested user namespace (through which a probe would mount a /tmp of its
own past the sandbox's size limit)."""

from __future__ import annotations

from auditor.core.findings import ModuleStatus

NESTED_NAMESPACES = """
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
outcomes = {
    "unshare(CLONE_NEWUSER)": libc.unshare(0x10000000) == 0,
    "unshare -Ur (clone)": subprocess.run(["unshare", "-Ur", "true"], capture_output=True).returncode == 0,
    "unshare -Ur --mount tmpfs": subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=1g none /tmp"], capture_output=True
    ).returncode == 0,
}
escaped = [name for name, worked in outcomes.items() if worked]
if escaped:
    raise RuntimeError(f"created a user namespace: {escaped}")
"""


def test_a_probe_cannot_create_a_user_namespace(bench_with):
    bench = bench_with({"fa-userns": {"files": {"fa_userns/__init__.py": NESTED_NAMESPACES}}})

    [module] = bench.probe("fa-userns").modules

    assert (module.status, module.error) == (ModuleStatus.OK, None)
