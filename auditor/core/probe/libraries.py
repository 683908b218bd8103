"""Which shared library a native thread runs in, read from outside the probe's interpreter.

A native thread inherits the name of the thread that created it (`python`) and the bootstrap can only say which
module was loading when it appeared. Its stack says more: a sleeping thread's stack holds the return addresses of
the functions it is in, from its start routine (OpenBLAS's `blas_thread_server`, jemalloc's background thread) down
to the libc call it waits in. The outermost of them in a library of its own names the library that runs the
thread. The host reads the stack of each thread (`/proc/<pid>/task/<tid>/syscall` gives its stack pointer) through
`/proc/<pid>/mem` against `/proc/<pid>/maps`: what the package's code reports about itself has no say in it.
"""

from __future__ import annotations

import os
import struct
import tomllib
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE = Path(__file__).with_name("catalogue.toml")
STACK_BYTES = 256 * 1024  # a sleeping thread's frames are near the top of its stack
# Libraries every thread passes through: the C runtime, the loader, the interpreter itself.
_GENERIC = ("libc.so", "libc-", "ld-linux", "ld-musl", "libpthread", "libgcc_s", "libstdc++", "libm.so", "libdl")
_GENERIC_PREFIXES = ("python", "libpython")


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    executable: bool
    path: str


def thread_libraries(pid: int, tids: list[str]) -> dict[str, str]:
    """For each thread `tid` of process `pid` that sleeps in a call, the file of the outermost library of its own
    on its stack; threads running on a CPU, or only in generic code, are left out."""
    try:
        mappings = _mappings(Path(f"/proc/{pid}/maps").read_text())
        memory = open(f"/proc/{pid}/mem", "rb", buffering=0)  # noqa: SIM115 (closed below)
    except OSError:
        return {}
    code = [m for m in mappings if m.executable and m.path.startswith("/")]
    found = {}
    with memory:
        for tid in tids:
            library = _thread_library(pid, tid, mappings, code, memory)
            if library is not None:
                found[tid] = library
    return found


def _thread_library(pid: int, tid: str, mappings: list[Mapping], code: list[Mapping], memory) -> str | None:
    try:
        fields = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
    except OSError:
        return None
    if len(fields) < 3:
        return None  # "running": no stack pointer to read from
    stack_pointer, program_counter = int(fields[-2], 16), int(fields[-1], 16)
    stack = _mapping_of(mappings, stack_pointer)
    if stack is None:
        return None
    try:
        memory.seek(stack_pointer)
        data = memory.read(min(stack.end - stack_pointer, STACK_BYTES))  # its own stack only, not what lies above
    except (OSError, ValueError, OverflowError):
        return None
    outermost = None
    for (word,) in struct.iter_unpack("<Q", data[: len(data) // 8 * 8]):
        mapping = _mapping_of(code, word)
        if mapping is not None and not _generic(mapping.path):
            outermost = mapping.path
    running = _mapping_of(code, program_counter)
    if outermost is None and running is not None and not _generic(running.path):
        outermost = running.path
    return outermost


def _mapping_of(mappings: list[Mapping], address: int) -> Mapping | None:
    index = bisect_right(mappings, address, key=lambda m: m.start) - 1
    return mappings[index] if index >= 0 and address < mappings[index].end else None


def _mappings(maps: str) -> list[Mapping]:
    found = []
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        path = parts[5].removesuffix(" (deleted)") if len(parts) == 6 else ""
        found.append(Mapping(start, end, "x" in parts[1], path))
    return sorted(found, key=lambda m: m.start)


def _generic(path: str) -> bool:
    name = os.path.basename(path)
    return name.startswith(_GENERIC) or name.startswith(_GENERIC_PREFIXES)


@dataclass(frozen=True)
class Library:
    """A well-known native library: how to recognise its threads, and the switches that may stop them."""

    name: str
    files: tuple[str, ...] = ()  # prefixes of its file names
    threads: tuple[str, ...] = ()  # prefixes of the names its threads give themselves
    knobs: tuple[dict[str, str], ...] = ()


@cache
def catalogue() -> dict:
    """catalogue.toml: the known libraries, the knobs of packages, the fallback knobs."""
    return tomllib.loads(CATALOGUE.read_text())


@cache
def known_libraries() -> tuple[Library, ...]:
    entries = catalogue()["library"]
    return tuple(
        Library(
            name=e["name"],
            files=tuple(e.get("files", ())),
            threads=tuple(e.get("threads", ())),
            knobs=tuple(e.get("knobs", ())),
        )
        for e in entries
    )


def recognise(library_file: str | None, thread_name: str | None) -> Library | None:
    """The well-known library a native thread belongs to: by the name it gave itself (jemalloc's `jemalloc_bg_thd`
    runs inside libarrow), else by the file it runs in."""
    for library in known_libraries():
        if thread_name and thread_name.startswith(library.threads or ("\0",)):
            return library
    name = os.path.basename(library_file or "")
    for library in known_libraries():
        if name and name.startswith(library.files or ("\0",)):
            return library
    return None
