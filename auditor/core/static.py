"""Static scan (DESIGN.md §7): code in a distribution that can start threads, fork, or register at-fork handlers.

Source is read, never imported or run. Calls are matched by qualified name (libcst's scope analysis), so aliases and
`from` imports count while text that merely mentions a name (docstrings, comments, strings) does not.
libcst is the cost (parsing and scope analysis take tens of milliseconds a file), so a file reaches it only when
its text imports a watched module and calls a watched name, and CPython's parser finds that import and such a call;
and then libcst reads only the statements that can matter. This module holds those filters and runs scans in
spawned worker processes (`Scanner`); `static_cst` is the libcst half, imported only where a file is parsed.
"""

from __future__ import annotations

import ast
import logging
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from auditor.core.background import SpawnPool
from auditor.core.findings import Finding, RuntimeThread

THREAD_CALLS = frozenset(
    {
        "threading.Thread",
        "threading.Timer",
        "_thread.start_new_thread",
        "_thread.start_new",
        "concurrent.futures.ThreadPoolExecutor",
        "concurrent.futures.thread.ThreadPoolExecutor",
        "multiprocessing.pool.ThreadPool",
        "multiprocessing.dummy.Pool",
    }
)
FORK_CALLS = frozenset({"os.fork", "os.forkpty", "multiprocessing.set_start_method", "multiprocessing.get_context"})
ATFORK_CALL = "os.register_at_fork"
_LAST_NAMES = frozenset(name.rpartition(".")[2] for name in THREAD_CALLS | FORK_CALLS | {ATFORK_CALL})
ATFORK_HOOKS = ("before", "after_in_child", "after_in_parent")
MAX_FILE_BYTES = 2 * 1024 * 1024
BATCH_FILES = 100  # files a worker process takes at a time
WORKER_FILES = 10  # files that mention a watched name, per worker process worth starting for one scan_files
# Every watched name lives in one of these modules (os only for fork, forkpty and register_at_fork).
_WATCHED_MODULES = frozenset({"threading", "_thread", "concurrent", "multiprocessing"})

logger = logging.getLogger(__name__)

# The last names of the watched calls (Thread covers ThreadPoolExecutor, ThreadPool and Thread subclasses; fork
# covers os.fork, forkpty and register_at_fork): a file that mentions none of them cannot call one, and is never parsed.
_MENTIONS = re.compile(rb"Thread|Timer|start_new|fork|set_start_method|get_context|Pool")
# And no call can resolve to a watched name in a file that never imports its module: an `import` statement naming it
# (among others, maybe over backslash continuations) or a `from` statement of it. CPython's parser, which the file
# meets next, costs 100 times more than this, and most files that mention a name import none of the modules.
_IMPORT = rb"\bfrom(?:[ \t]|\\\r?\n)+(?:{modules})\b|\bimport[ \t][^\n#]*(?:\\\r?\n[^\n#]*)*\b(?:{modules})\b"
_IMPORTS_WATCHED = re.compile(_IMPORT.replace(b"{modules}", b"threading|_thread|concurrent|multiprocessing"))
_IMPORTS_WATCHED_OR_OS = re.compile(_IMPORT.replace(b"{modules}", b"threading|_thread|concurrent|multiprocessing|os"))
# And a file can hold a finding only if it calls a watched name: one of those names before a `(` (maybe past closing
# parentheses, a line continuation or a comment), an import of one under another name, or a class whose bases name
# Thread or Timer (its instances start threads). Files that import threading only for its locks are most of the rest.
_NAMES = "|".join(sorted(_LAST_NAMES, key=len, reverse=True))
_CALLS_WATCHED = re.compile(
    rf"\b(?:{_NAMES})\b[\s\\)]*(?:#[^\n]*\n[\s\\)]*)*\(|\b(?:{_NAMES})\s+as\b|\bclass\b[^:]*\b(?:Thread|Timer)\b".encode()
)
_PARSE_LOCK = threading.Lock()

# CPython reports code nested too deeply for its own parser with these; libcst's native parser crashes the whole
# process (SIGSEGV) on such input instead of raising, so the file is skipped before libcst sees it.
_TOO_DEEP_MESSAGES = ("too many nested", "too many levels", "too complex")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    file: str  # relative to the scanned root, posix
    module: str | None  # None when the path is not an importable dotted name


@dataclass(frozen=True)
class Excerpt:
    """The part of a file that libcst reads; `lines[i]` is the original number of its line i + 1 (None: all of it)."""

    text: bytes
    lines: tuple[int, ...] | None = None

    def original_line(self, line: int) -> int:
        return line if self.lines is None else self.lines[line - 1]


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
        candidates = [source for source in sources if _read_candidate(source.path)]
        jobs = min(jobs, len(candidates) // WORKER_FILES)
    if jobs <= 1:
        return scan_batch(sources)
    with Scanner(jobs) as scanner:
        return scanner.submit([source.path for source in candidates], root=root).result()


class Scanner:
    """Static scans that run while the caller goes on, on `jobs` worker processes (in the calling thread, when it
    asks for the result, if `jobs` is 1). A context manager: its workers stop on exit.

    Workers are started by spawn, never by fork (see `SpawnPool`).
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        # Workers start now and import libcst (0.2 s each) before the caller has files for them.
        self._pool = SpawnPool(jobs, initializer=_import_libcst) if jobs > 1 else None

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
        text = _read_candidate(source.path)
        excerpt = _worth_parsing(text) if text else None
        if excerpt is not None:
            from auditor.core.static_cst import findings_in  # libcst: imported once a file needs it

            findings.extend(findings_in(source, excerpt))
    return findings


def _import_libcst() -> None:
    import auditor.core.static_cst  # noqa: F401 - what every worker needs sooner or later, imported at its start


def module_level_thread_modules(findings: Iterable[Finding]) -> set[str]:
    """Names of the modules that start threads while they are imported (module or class body): the probe imports
    them too."""
    return {
        finding.module
        for finding in findings
        if isinstance(finding, RuntimeThread) and finding.scope in ("module", "class") and finding.module
    }


def _source_file(path: Path, root: Path) -> SourceFile:
    relative = path.relative_to(root)  # ValueError when outside root: a caller's mistake, not a package's
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    module = ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None
    return SourceFile(path=path, file=relative.as_posix(), module=module)


def _read_candidate(path: Path) -> bytes | None:
    """The file's bytes if it is worth parsing: a regular, readable file of at most 2 MB that mentions a name."""
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            return None
        with path.open("rb") as stream:
            text = stream.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(text) > MAX_FILE_BYTES or not _MENTIONS.search(text):
        return None
    return text


def _worth_parsing(text: bytes) -> Excerpt | None:
    """What libcst should see of the file, or None: nothing when CPython's parser refuses its nesting depth (see
    _TOO_DEEP_MESSAGES) or when it imports no watched module or calls no watched name, since then no call can
    resolve to one; else the file with only the top-level statements that can matter (see _relevant_source)."""
    forks = b"fork" in text  # os matters only for os.fork, os.forkpty and os.register_at_fork
    if not (_IMPORTS_WATCHED_OR_OS if forks else _IMPORTS_WATCHED).search(text) or not _CALLS_WATCHED.search(text):
        return None
    try:
        # One file at a time per process: CPython 3.11's AST constructor keeps its recursion depth per interpreter,
        # so parsing in two threads at once fails ("AST constructor recursion depth mismatch"), and
        # catch_warnings swaps process-wide state.
        with _PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are the package's business
            tree = compile(text, "<scanned>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (RecursionError, MemoryError, ValueError):
        return None
    except SyntaxError as error:
        # Any other syntax error may be newer syntax than this interpreter knows (PEP 695, PEP 701): libcst decides.
        return None if any(message in str(error.msg) for message in _TOO_DEEP_MESSAGES) else Excerpt(text)
    watched = (_WATCHED_MODULES | {"os"}) if forks else _WATCHED_MODULES
    imports_watched = False
    callable_names = set(_LAST_NAMES)
    called: set[str] = set()
    thread_classes: dict[str, set[str]] = {}  # class name -> the last names of its bases
    imported: set[str] = set()  # every name an import binds
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports_watched |= any(alias.name.partition(".")[0] in watched for alias in node.names)
            imported |= {alias.asname or alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {alias.asname or alias.name for alias in node.names}
            if node.level == 0 and node.module:
                imports_watched |= node.module.partition(".")[0] in watched
                callable_names |= {a.asname for a in node.names if a.asname and a.name in _LAST_NAMES}
        elif isinstance(node, ast.Call):
            called.add(_last_name(node.func))
        elif isinstance(node, ast.ClassDef):
            thread_classes[node.name] = {_last_name(base) for base in node.bases}
    # Local subclasses of Thread (and theirs) are watched names too: instantiating one starts a thread.
    subclasses = {"Thread", "Timer"}
    while grown := {name for name, bases in thread_classes.items() if bases & subclasses} - subclasses:
        subclasses |= grown
    callable_names |= subclasses
    # libcst's scope analysis is the scan's whole cost: only a file that calls a watched name (under its own name or
    # an alias it imports) can hold a finding.
    if not imports_watched or not called & callable_names:
        return None
    return _relevant_source(text, tree, _Names(frozenset(callable_names), frozenset(callable_names | imported)))


@dataclass(frozen=True)
class _Names:
    """What makes code relevant to the scan: calling one of `calls`, or binding one of `bound` (those, and every name
    an import binds: `threading = None` in a function makes its `threading.Thread()` someone else's)."""

    calls: frozenset[str]
    bound: frozenset[str]


def _relevant_source(text: bytes, tree: ast.Module, names: _Names) -> Excerpt:
    """What of `text` can hold or name a finding, with the original number of each line it keeps.

    A top-level statement is left out when it neither imports anything nor calls or binds one of `names`; inside a
    kept statement, every statement that is irrelevant on the same terms is replaced by `pass` (see
    _replace_nested). libcst's scope analysis then costs what the relevant code costs, not the whole file (redis's
    cluster.py: 0.9 s, of which the one call that matters is worth 0.03 s). Lines are dropped rather than blanked
    because libcst pays for empty lines too. Falls back to the whole text if the excerpt would not parse.
    """
    lines = text.splitlines(keepends=True)
    keep = [False] * len(lines)
    for index in range(min(2, len(lines))):
        keep[index] = lines[index].lstrip().startswith(b"#")  # a coding declaration must stay on line 1 or 2
    passes: dict[int, bytes | None] = {}  # line index -> what stands there instead (None: nothing)
    for statement in tree.body:
        # Two statements can share a line (`import os; x = 1`): a line is kept when any statement on it matters.
        if _is_relevant(statement, names):
            for index in range(_first_line(statement) - 1, statement.end_lineno or statement.lineno):
                keep[index] = True
            _replace_nested(statement, names, lines, passes)
    numbers = [index + 1 for index, kept in enumerate(keep) if kept and passes.get(index, b"") is not None]
    excerpt = b"".join(passes.get(number - 1, lines[number - 1]) or b"" for number in numbers)
    try:
        with _PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(excerpt, "<scanned>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Excerpt(text)  # something this reduction did not foresee: scan it all
    return Excerpt(excerpt, tuple(numbers))


def _replace_nested(statement: ast.AST, names: _Names, lines: list[bytes], passes: dict[int, bytes | None]) -> None:
    """Replace every irrelevant statement inside the relevant `statement` by `pass` (one `pass` for a run of them),
    which keeps its block from becoming empty; relevant compound statements are reduced in turn. A statement that
    shares a line with another (`a = 1; b = 2`, `if x: y()`) or is an `elif` branch stays as it is."""
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        block = getattr(statement, field, None) or ()
        replaced_before = False
        for index, child in enumerate(block):
            if not isinstance(child, ast.stmt) or _is_relevant(child, names):
                _replace_nested(child, names, lines, passes)  # handlers and cases hold statements
                replaced_before = False
                continue
            first, last = _first_line(child), child.end_lineno or child.lineno
            indent = lines[child.lineno - 1][: child.col_offset]  # decorators stand at the def's indentation
            alone = (index == 0 or block[index - 1].end_lineno < first) and (
                index == len(block) - 1 or block[index + 1].lineno > last
            )
            if indent.strip() or not alone or lines[child.lineno - 1][child.col_offset :].startswith(b"elif"):
                replaced_before = False
                continue
            for line in range(first - 1, last):
                passes[line] = None
            if not replaced_before:
                passes[first - 1] = indent + b"pass\n"
            replaced_before = True


def _first_line(statement: ast.stmt) -> int:
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])


def _is_relevant(statement: ast.AST, names: _Names) -> bool:
    for node in ast.walk(statement):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            return True  # bindings that resolve a name elsewhere in the file
        if isinstance(node, ast.Call) and _last_name(node.func) in names.calls:
            return True
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and node.id in names.bound:
            return True  # `Thread = ...` decides what a later `Thread()` is
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.ExceptHandler)):
            if node.name in names.bound:
                return True
    return False


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
