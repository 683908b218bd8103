"""Which probes' interpreters are running: seen from outside, by their command lines."""

from __future__ import annotations

import time
from pathlib import Path


def probes_of(module: str) -> list[int]:
    """The processes importing `module` as a probe (whose command line names it as `+module`)."""
    word = f"+{module}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if word in arguments:
            found.append(int(entry.name))
    return found


def wait_for_a_probe_of(module: str, timeout: float = 60) -> None:
    """Until a probe's interpreter is importing `module`; AssertionError if none starts within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not probes_of(module) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert probes_of(module), f"no probe of {module} started"
