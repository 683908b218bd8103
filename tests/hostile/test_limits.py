"""Limits that hold for the whole probe: no nested user namespace (through which a probe would mount a /tmp of its
own past the sandbox's size limit)."""

from __future__ import annotations

from auditor.core.findings import ModuleStatus
from auditor.core.probe.sandbox import Limits

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


MIB = 2**20
# Each part alone fits the limit; together they are well past it.
FORKED_CHILDREN = """
import os, select
readers = []
for _ in range(3):
    r, w = os.pipe()
    if os.fork() == 0:
        data = b"x" * (300 << 20)  # written, so really in memory
        os.write(w, b"ok")
        select.select([], [], [], 60)
        os._exit(0)
    os.close(w)
    readers.append(r)
held = 0
for r in readers:
    held += os.read(r, 2) == b"ok"
if held == 3:
    raise RuntimeError("escaped: 900 MiB held by three children")
"""
MEMFDS = """
import os
fds = []
for _ in range(16):
    fd = os.memfd_create("hoard")
    for _ in range(60):
        os.write(fd, b"x" * (1 << 20))
    fds.append(fd)
raise RuntimeError("escaped: 960 MiB held in memfds")
"""


def test_memory_is_limited_for_all_of_a_probes_processes_together(bench_with):
    bench = bench_with({"fa-forks": {"files": {"fa_forks/__init__.py": FORKED_CHILDREN}}})

    [module] = bench.probe("fa-forks", limits=Limits(memory_bytes=512 * MIB)).modules

    assert "escaped" not in str(module.error)
    assert module.status in (ModuleStatus.OK, ModuleStatus.MEMORY)


def test_memory_that_no_process_maps_counts_too(bench_with):
    bench = bench_with({"fa-memfd": {"files": {"fa_memfd/__init__.py": MEMFDS}}})

    [module] = bench.probe("fa-memfd", limits=Limits(memory_bytes=512 * MIB)).modules

    assert (module.status, module.error) == (
        ModuleStatus.MEMORY,
        "memory limit reached by the probe's processes together",
    )
