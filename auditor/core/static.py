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
import bisect
import logging
import os
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

# A file can only call a watched name if it names the module it comes from (threading, _thread, concurrent,
# multiprocessing) or, for os.fork, forkpty and register_at_fork, says "fork": plain substring tests skip the
# nine files in ten that do none of this at several times the speed of a regular expression.
_MODULE_WORDS = (b"thread", b"concurrent", b"multiprocessing", b"fork")
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


def scan_workers(cores: int) -> int:
    """How many processes scan beside the probes of an audit on `cores` cores (0: in the probes' threads).

    The scan is a fifth of the probes' CPU or less (bench/README.md), so one process per four cores keeps it ahead of
    the probes; each process more only takes CPU from them (its start, libcst's import, and more processes contending
    for the cores: an audit of 63 distributions on 2 cores took 0.2 s longer with two).
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
        # Workers start now and import libcst (0.1 s each) before the caller has files for them.
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
    # Plain string work on the (normalized) paths, as Path.relative_to does it: 4,000 files of an audit took pathlib
    # 30 ms of the main thread, between the install and the first probe.
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


def _read_candidate(path: Path) -> bytes | None:
    """The file's bytes if it is worth parsing: a regular, readable file of at most 2 MB that mentions a watched
    module and a watched name."""
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            return None
        with path.open("rb") as stream:
            text = stream.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(text) > MAX_FILE_BYTES or not any(word in text for word in _MODULE_WORDS) or not _MENTIONS.search(text):
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
    calls: list[ast.Call] = []
    classes: list[ast.ClassDef] = []
    imports: list[tuple[ast.stmt, set[str]]] = []  # each import statement, and the names it binds
    bindings: list[tuple[str, ast.AST]] = []  # every other node that binds a name
    anchors: list[ast.stmt] = []  # statements that can make any name mean something else: kept whatever they name
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Call:
            calls.append(node)
        elif kind is ast.Name:
            if type(node.ctx) is not ast.Load:
                bindings.append((node.id, node))
        elif kind is ast.Import:
            imports_watched |= any(alias.name.partition(".")[0] in watched for alias in node.names)
            imports.append((node, {alias.asname or alias.name.partition(".")[0] for alias in node.names}))
        elif kind is ast.ImportFrom:
            imports.append((node, {alias.asname or alias.name for alias in node.names}))
            if any(alias.name == "*" for alias in node.names):
                anchors.append(node)
            if node.level == 0 and node.module:
                imports_watched |= node.module.partition(".")[0] in watched
                callable_names |= {a.asname for a in node.names if a.asname and a.name in _LAST_NAMES}
        elif kind is ast.ClassDef:
            classes.append(node)
            bindings.append((node.name, node))
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ExceptHandler:
            if node.name:
                bindings.append((node.name, node))
        elif kind is ast.Global or kind is ast.Nonlocal:
            anchors.append(node)
    # Local subclasses of Thread (and theirs) are watched names too: instantiating one starts a thread.
    thread_classes = {cls.name: {_last_name(base) for base in cls.bases} for cls in classes}
    subclasses = {"Thread", "Timer"}
    while grown := {name for name, bases in thread_classes.items() if bases & subclasses} - subclasses:
        subclasses |= grown
    callable_names |= subclasses
    # libcst's scope analysis is the scan's whole cost: only a file that calls a watched name (under its own name or
    # an alias it imports) can hold a finding.
    watched_calls = [call for call in calls if _last_name(call.func) in callable_names]
    if not imports_watched or not watched_calls:
        return None
    # What such a call means depends only on the name it starts from (`threading` in `threading.Thread()`), and the
    # same for the bases of the classes those calls may instantiate: the code that binds one of these names, or a
    # watched name itself, is what libcst must see, with the calls.
    roots = {_root_name(call.func) for call in watched_calls}
    roots |= {_root_name(base) for cls in classes if cls.name in callable_names for base in cls.bases}
    roots.discard("")
    names = callable_names | roots
    relevant = [*watched_calls, *anchors]
    relevant += [node for name, node in bindings if name in names]
    relevant += [node for node, bound in imports if bound & names]
    return _relevant_source(text, tree, sorted((node.lineno, node.col_offset) for node in relevant))


def _relevant_source(text: bytes, tree: ast.Module, relevant: list[tuple[int, int]]) -> Excerpt:
    """What of `text` can hold or name a finding, with the original number of each line it keeps.

    A top-level statement is kept when it holds one of the `relevant` positions (line, column; sorted), and inside a
    kept statement, every statement that holds none is replaced by `pass` (see _replace_nested). libcst's scope
    analysis then costs what the relevant code costs, not the whole file (redis's cluster.py: 0.9 s, of which the one
    call that matters is worth 0.03 s). Lines are dropped rather than blanked because libcst pays for empty lines too.
    Falls back to the whole text if the excerpt would not parse.
    """
    lines = text.splitlines(keepends=True)
    keep = [False] * len(lines)
    for index in range(min(2, len(lines))):
        keep[index] = lines[index].lstrip().startswith(b"#")  # a coding declaration must stay on line 1 or 2
    passes: dict[int, bytes | None] = {}  # line index -> what stands there instead (None: nothing)
    for statement in tree.body:
        # Two statements can share a line (`import os; x = 1`): a line is kept when any statement on it matters.
        if _holds(statement, relevant):
            for index in range(_first_line(statement) - 1, statement.end_lineno or statement.lineno):
                keep[index] = True
            _replace_nested(statement, relevant, lines, passes)
    numbers = [index + 1 for index, kept in enumerate(keep) if kept and passes.get(index, b"") is not None]
    excerpt = b"".join(passes.get(number - 1, lines[number - 1]) or b"" for number in numbers)
    try:
        with _PARSE_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(excerpt, "<scanned>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Excerpt(text)  # something this reduction did not foresee: scan it all
    return Excerpt(excerpt, tuple(numbers))


def _replace_nested(
    statement: ast.AST, relevant: list[tuple[int, int]], lines: list[bytes], passes: dict[int, bytes | None]
) -> None:
    """Replace every irrelevant statement inside the relevant `statement` by `pass` (one `pass` for a run of them,
    with the comments between them), which keeps its block from becoming empty; relevant compound statements are
    reduced in turn. A statement that shares a line with another (`a = 1; b = 2`, `if x: y()`) or is an `elif`
    branch stays as it is."""
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        block = getattr(statement, field, None) or ()
        run_ends = 0  # the last line of the run of replaced statements this one may join (0: none)
        for index, child in enumerate(block):
            if not isinstance(child, ast.stmt) or _holds(child, relevant):
                _replace_nested(child, relevant, lines, passes)  # handlers and cases hold statements
                run_ends = 0
                continue
            first, last = _first_line(child), child.end_lineno or child.lineno
            indent = lines[child.lineno - 1][: child.col_offset]  # decorators stand at the def's indentation
            alone = (index == 0 or block[index - 1].end_lineno < first) and (
                index == len(block) - 1 or block[index + 1].lineno > last
            )
            if indent.strip() or not alone or lines[child.lineno - 1][child.col_offset :].startswith(b"elif"):
                run_ends = 0
                continue
            if not run_ends:
                passes[first - 1] = indent + b"pass\n"
            # Between two statements of one block there are only comments and blank lines: they go with the run.
            for line in range(run_ends or first, last):
                passes[line] = None
            run_ends = last


def _holds(statement: ast.stmt, relevant: list[tuple[int, int]]) -> bool:
    """Whether one of the sorted `relevant` positions lies within `statement` (from the start of its first line:
    a statement sharing that line may be counted in, which keeps a line too many, never one too few)."""
    index = bisect.bisect_left(relevant, (_first_line(statement), 0))
    return index < len(relevant) and relevant[index] <= (statement.end_lineno or statement.lineno, 1 << 30)


def _first_line(statement: ast.stmt) -> int:
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])


def _root_name(node: ast.expr) -> str:
    """The name an expression starts from: `threading` for `threading.Thread`, `get` for `get()[0].Pool`."""
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
