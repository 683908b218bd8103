"""Static scan: code in a distribution that can start threads, fork, or register at-fork handlers.

Source is read, never imported or run. Calls are matched by qualified name (libcst's scope analysis), so aliases and
`from` imports count while text that merely mentions a name (docstrings, comments, strings) does not.
libcst is the cost (parsing and scope analysis take tens of milliseconds a file), so a file reaches it only when
the cheap text and CPython AST pass (`prefilter`) finds an import of a watched module and a call of a watched name,
and then libcst (`libcst_pass`, imported only where a file is parsed) reads only the statements that can matter.
What is watched, and the file and excerpt passed along, are in `names`. This module is the entry point: it runs
scans, in spawned worker processes when that pays (`Scanner`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from auditor.core.background import SpawnPool
from auditor.core.findings import Finding, RuntimeThread
from auditor.core.static.names import ATFORK_CALL, ATFORK_HOOKS, FORK_CALLS, THREAD_CALLS, Excerpt, SourceFile
from auditor.core.static.prefilter import MAX_FILE_BYTES, read_candidate, worth_parsing

__all__ = [
    "ATFORK_CALL",
    "ATFORK_HOOKS",
    "FORK_CALLS",
    "MAX_FILE_BYTES",
    "THREAD_CALLS",
    "Excerpt",
    "Scan",
    "Scanner",
    "SourceFile",
    "module_level_thread_modules",
    "scan_batch",
    "scan_files",
    "scan_workers",
]

BATCH_FILES = 100  # files a worker process takes at a time
WORKER_FILES = 10  # files that mention a watched name, per worker process worth starting for one scan_files

logger = logging.getLogger(__name__)


def scan_files(files: Sequence[Path], *, root: Path, jobs: int = 1) -> list[Finding]:
    """Report thread-starting calls, fork calls and at-fork handlers in `files` (absolute paths under `root`).

    Findings come in the order of `files`, then of the source. A file that cannot be read or parsed (syntax error,
    bad encoding, over 2 MB, nested too deeply) yields nothing. With `jobs > 1`, files are parsed in up to `jobs`
    worker processes started by spawn, never by fork. Raises ValueError for a file outside `root` or `jobs < 1`.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    sources = [_source_file(path, root) for path in dict.fromkeys(files)]
    if jobs > 1:
        # Starting a worker costs as much as parsing a dozen files: only that much work is worth one.
        candidates = [source for source in sources if read_candidate(source.path)]
        jobs = min(jobs, len(candidates) // WORKER_FILES)
    if jobs <= 1:
        return scan_batch(sources)
    with Scanner(jobs) as scanner:
        return scanner.submit([source.path for source in candidates], root=root).result()


def scan_workers(cores: int) -> int:
    """How many processes scan beside the probes of an audit on `cores` cores (0: in the probes' threads).

    The scan is a fifth of the probes' CPU or less (bench/README.md), so one process per four cores keeps it ahead of
    the probes; each process more only takes CPU from them (its start, libcst's import, and more processes contending
    for the cores: an audit on 2 cores took longer with two, bench/README.md, finding 30).
    """
    return 0 if cores <= 1 else max(1, cores // 4)


class Scanner:
    """Static scans that run while the caller goes on, on `workers` processes (in the calling thread, when it asks
    for the result, if `workers` is 0). A context manager: its workers stop on exit.

    Workers are started by spawn, never by fork (see `SpawnPool`).
    """

    def __init__(self, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"workers must be at least 0, not {workers}")
        # Workers start now and import libcst (bench/README.md, finding 15) before the caller has files for them.
        self._pool = SpawnPool(workers, initializer=_import_libcst) if workers else None

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, files: Sequence[Path], *, root: Path) -> Scan:
        """Start scanning `files` (absolute paths under `root`; ValueError for one outside it)."""
        sources = [_source_file(path, root) for path in dict.fromkeys(files)]
        # Batches spread a large distribution over the workers; contiguous ones keep the order of the files.
        batches = [sources[start : start + BATCH_FILES] for start in range(0, len(sources), BATCH_FILES)]
        if self._pool is None:
            return Scan([(batch, None) for batch in batches])
        return Scan([(batch, self._pool.submit(scan_batch, batch)) for batch in batches])


class Scan:
    """The findings of one `Scanner.submit`: in the order of its files, then of the source."""

    def __init__(self, batches: list[tuple[list[SourceFile], Future[list[Finding]] | None]]) -> None:
        self._batches = batches

    def result(self) -> list[Finding]:
        findings: list[Finding] = []
        for batch, future in self._batches:
            if future is None:
                findings.extend(scan_batch(batch))
                continue
            try:
                findings.extend(future.result())
            except BrokenProcessPool:
                # The workers could not start (e.g. the caller's __main__ cannot be re-imported) or one died.
                # Scanning here gives what jobs=1 gives; silently dropping the files would report them clean.
                logger.warning("static scan worker pool broke; scanning %d files in-process", len(batch))
                findings.extend(scan_batch(batch))
        return findings


def scan_batch(sources: list[SourceFile]) -> list[Finding]:
    """The findings in `sources`, one file after the other: what a worker process runs."""
    findings: list[Finding] = []
    for source in sources:
        text = read_candidate(source.path)
        excerpt = worth_parsing(text) if text else None
        if excerpt is not None:
            from auditor.core.static.libcst_pass import findings_in  # libcst: imported once a file needs it

            findings.extend(findings_in(source, excerpt))
    return findings


def _import_libcst() -> None:
    import auditor.core.static.libcst_pass  # noqa: F401 - what every worker needs sooner or later, imported at its start


def module_level_thread_modules(findings: Iterable[Finding]) -> set[str]:
    """Names of the modules that start threads while they are imported (module or class body): the probe imports
    them too."""
    return {
        finding.module
        for finding in findings
        if isinstance(finding, RuntimeThread) and finding.scope in ("module", "class") and finding.module
    }


def _source_file(path: Path, root: Path) -> SourceFile:
    # Plain string work on the (normalized) paths, as Path.relative_to does it: pathlib was a cost on
    # the main thread, between the install and the first probe (bench/README.md, finding 29).
    text, prefix = str(path), os.path.join(str(root), "")
    if not text.startswith(prefix):
        raise ValueError(f"{path} is not under {root}")  # a caller's mistake, not a package's
    relative = text[len(prefix) :]
    parts = relative.split("/")
    dot = parts[-1].rfind(".")
    if 0 < dot < len(parts[-1]) - 1:  # a suffix, as pathlib sees one
        parts[-1] = parts[-1][:dot]
    if parts and parts[-1] == "__init__":
        parts.pop()
    module = ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None
    return SourceFile(path=path, file=relative, module=module)
