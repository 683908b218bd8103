"""Static scan (DESIGN.md §7): code in a distribution that can start threads, fork, or register at-fork handlers.

Source is read, never imported or run. Calls are matched by qualified name (libcst's scope analysis), so aliases and
`from` imports count while text that merely mentions a name (docstrings, comments, strings) does not.
libcst is the cost (parsing and scope analysis take tens of milliseconds a file), so a file reaches it only when
its text names a watched module or function and CPython's parser finds an import of such a module in it; the rest can
be parsed in spawned worker processes.
"""

from __future__ import annotations

import ast
import logging
import multiprocessing
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import (
    ClassScope,
    CodeRange,
    FunctionScope,
    GlobalScope,
    MetadataWrapper,
    PositionProvider,
    QualifiedName,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
)

from auditor.core.findings import AtforkHandler, Finding, ForkCall, RuntimeThread

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
# Every watched name lives in one of these modules (os only for fork, forkpty and register_at_fork).
_WATCHED_MODULES = frozenset({"threading", "_thread", "concurrent", "multiprocessing"})

logger = logging.getLogger(__name__)

# A call resolves to one of the names above only if the file names its module or function somewhere: "threading",
# "_thread", "...Thread..." (ThreadPoolExecutor, ThreadPool), "multiprocessing", or "fork" (os.fork, forkpty,
# register_at_fork). A file without any of these cannot produce a finding, so it is never parsed.
# The last names of the watched calls (Thread covers ThreadPoolExecutor, ThreadPool and Thread subclasses; fork
# covers os.fork, forkpty and register_at_fork): a file that mentions none of them cannot call one.
_MENTIONS = re.compile(rb"Thread|Timer|start_new|fork|set_start_method|get_context|Pool")
# And no call can resolve to a watched name in a file that never imports its module: an `import` statement naming it
# (among others, maybe over backslash continuations) or a `from` statement of it. CPython's parser, which the file
# meets next, costs 100 times more than this, and most files that mention a name import none of the modules.
_IMPORT = rb"\bfrom(?:[ \t]|\\\r?\n)+(?:{modules})\b|\bimport[ \t][^\n#]*(?:\\\r?\n[^\n#]*)*\b(?:{modules})\b"
_IMPORTS_WATCHED = re.compile(_IMPORT.replace(b"{modules}", b"threading|_thread|concurrent|multiprocessing"))
_IMPORTS_WATCHED_OR_OS = re.compile(_IMPORT.replace(b"{modules}", b"threading|_thread|concurrent|multiprocessing|os"))
_PARSE_LOCK = threading.Lock()

# CPython reports code nested too deeply for its own parser with these; libcst's native parser crashes the whole
# process (SIGSEGV) on such input instead of raising, so the file is skipped before libcst sees it.
_TOO_DEEP_MESSAGES = ("too many nested", "too many levels", "too complex")


@dataclass(frozen=True)
class _SourceFile:
    path: Path
    file: str  # relative to the scanned root, posix
    module: str | None  # None when the path is not an importable dotted name


@dataclass(frozen=True)
class _Excerpt:
    """The part of a file that libcst reads; `lines[i]` is the original number of its line i + 1 (None: all of it)."""

    text: bytes
    lines: tuple[int, ...] | None = None

    def original_line(self, line: int) -> int:
        return line if self.lines is None else self.lines[line - 1]


@dataclass(frozen=True)
class _Call:
    names: frozenset[QualifiedName]
    scope: str
    node: cst.Call  # its position is computed only when the call turns out to be a finding
    keywords: tuple[str, ...]


def scan_files(files: Sequence[Path], *, root: Path, jobs: int = 1) -> list[Finding]:
    """Report thread-starting calls, fork calls and at-fork handlers in `files` (absolute paths under `root`).

    Findings come in the order of `files`, then of the source. A file that cannot be read or parsed (syntax error,
    bad encoding, over 2 MB, nested too deeply) yields nothing. With `jobs > 1`, files are parsed in up to `jobs`
    worker processes started by spawn, never by fork. Raises ValueError for a file outside `root` or `jobs < 1`.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    sources = [_source_file(path, root) for path in dict.fromkeys(files)]
    # The filters cost a millisecond or two a file; only libcst's work is worth sending to other processes.
    work = [
        (source, relevant)
        for source in sources
        if (text := _read_candidate(source.path)) and (relevant := _worth_parsing(text)) is not None
    ]
    if jobs == 1 or len(work) < 2:
        return _scan_batch(work)
    return _scan_in_workers(work, jobs)


def module_level_thread_modules(findings: Iterable[Finding]) -> set[str]:
    """Names of the modules that start threads while they are imported (module or class body): the probe imports
    them too."""
    return {
        finding.module
        for finding in findings
        if isinstance(finding, RuntimeThread) and finding.scope in ("module", "class") and finding.module
    }


def _source_file(path: Path, root: Path) -> _SourceFile:
    relative = path.relative_to(root)  # ValueError when outside root: a caller's mistake, not a package's
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    module = ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None
    return _SourceFile(path=path, file=relative.as_posix(), module=module)


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


def _scan_in_workers(work: list[tuple[_SourceFile, _Excerpt]], jobs: int) -> list[Finding]:
    workers = min(jobs, len(work))
    # Several batches per worker even out files of different sizes; contiguous batches keep the sequential order.
    size = -(-len(work) // (workers * 4))
    batches = [work[start : start + size] for start in range(0, len(work), size)]
    findings: list[Finding] = []
    # Spawn, never fork: the caller may already run threads (this product exists because that is unsafe).
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for batch, future in [(batch, pool.submit(_scan_batch, batch)) for batch in batches]:
            try:
                findings.extend(future.result())
            except BrokenProcessPool:
                # The workers could not start (e.g. the caller's __main__ cannot be re-imported) or one died.
                # Scanning here gives what jobs=1 gives; silently dropping the files would report them clean.
                logger.warning("static scan worker pool broke; scanning %d files in-process", len(batch))
                findings.extend(_scan_batch(batch))
    return findings


def _scan_batch(work: list[tuple[_SourceFile, _Excerpt]]) -> list[Finding]:
    return [finding for source, excerpt in work for finding in _scan_source(source, excerpt)]


def _scan_source(source: _SourceFile, excerpt: _Excerpt) -> list[Finding]:
    """Findings in one file that passed `_worth_parsing` (which keeps libcst from crashing on it)."""
    collector = _CallCollector()
    try:
        wrapper = MetadataWrapper(cst.parse_module(excerpt.text), unsafe_skip_copy=True)
        wrapper.visit(collector)
    except Exception:  # untrusted code: whatever libcst cannot handle costs this file, never the scan
        return []
    positions: Mapping[cst.CSTNode, CodeRange] | None = None

    def line_of(node: cst.Call) -> int:
        nonlocal positions
        if positions is None:  # another pass over the tree: paid only by files with a finding
            positions = wrapper.resolve(PositionProvider)
        return excerpt.original_line(positions[node].start.line)

    thread_classes = _thread_subclasses(collector.class_bases)
    return [f for call in collector.calls if (f := _finding(call, source, thread_classes, line_of)) is not None]


def _worth_parsing(text: bytes) -> _Excerpt | None:
    """What libcst should see of the file, or None: nothing when CPython's parser refuses its nesting depth (see
    _TOO_DEEP_MESSAGES) or when it imports no watched module or calls no watched name, since then no call can
    resolve to one; else the file with only the top-level statements that can matter (see _relevant_source)."""
    forks = b"fork" in text  # os matters only for os.fork, os.forkpty and os.register_at_fork
    if not (_IMPORTS_WATCHED_OR_OS if forks else _IMPORTS_WATCHED).search(text):
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
        return None if any(message in str(error.msg) for message in _TOO_DEEP_MESSAGES) else _Excerpt(text)
    watched = (_WATCHED_MODULES | {"os"}) if forks else _WATCHED_MODULES
    imports_watched = False
    callable_names = set(_LAST_NAMES)
    called: set[str] = set()
    thread_classes: dict[str, set[str]] = {}  # class name -> the last names of its bases
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports_watched |= any(alias.name.partition(".")[0] in watched for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
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
    return _relevant_source(text, tree, callable_names)


def _relevant_source(text: bytes, tree: ast.Module, names: set[str]) -> _Excerpt:
    """What of `text` can hold or name a finding, with the original number of each line it keeps.

    A top-level statement is left out when it neither imports anything nor calls one of `names` nor defines a class
    or function of such a name; a function or class nested in a kept statement is replaced by `pass` on the same
    terms. libcst's scope analysis then costs what the relevant code costs, not the whole file (redis's cluster.py:
    0.9 s, of which one method of a 3,000-line module is worth 0.03 s). Lines are dropped rather than blanked
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
        return _Excerpt(text)  # something this reduction did not foresee: scan it all
    return _Excerpt(excerpt, tuple(numbers))


def _replace_nested(statement: ast.AST, names: set[str], lines: list[bytes], passes: dict[int, bytes | None]) -> None:
    """Replace every irrelevant function or class inside the relevant `statement` by `pass`: a compound statement
    always has its lines to itself, and `pass` keeps the enclosing block from becoming empty."""
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(statement, field, None) or ():
            definition = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if not definition or _is_relevant(child, names):  # if, with, try, ...: look for definitions inside
                _replace_nested(child, names, lines, passes)
            else:
                first = _first_line(child)
                indent = lines[child.lineno - 1][: child.col_offset]  # decorators stand at the def's indentation
                if indent.strip():
                    continue
                for index in range(first, child.end_lineno or child.lineno):
                    passes[index] = None
                passes[first - 1] = indent + b"pass\n"


def _first_line(statement: ast.stmt) -> int:
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])


def _is_relevant(statement: ast.AST, names: set[str]) -> bool:
    for node in ast.walk(statement):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            return True  # bindings that resolve a name elsewhere in the file
        if isinstance(node, ast.Call) and _last_name(node.func) in names:
            return True
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            return True
    return False


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


class _CallCollector(cst.CSTVisitor):
    """Collects every call with its possible qualified names, and the bases of every class, in source order.

    Names are asked of the scopes for calls and classes only: QualifiedNameProvider does it for every node of the
    tree, which doubles the cost of a file.
    """

    METADATA_DEPENDENCIES = (ScopeProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[_Call] = []
        self.class_bases: dict[str, frozenset[QualifiedName]] = {}

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        bases = frozenset(name for base in node.bases for name in self._names(base.value))
        for name in self._names(node):
            if name.source is QualifiedNameSource.LOCAL:
                self.class_bases[name.name] = bases

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(
            _Call(
                names=frozenset(self._names(node.func)),
                scope=_execution_scope(self.get_metadata(ScopeProvider, node, None)),
                node=node,
                keywords=tuple(arg.keyword.value for arg in node.args if arg.keyword is not None),
            )
        )

    def _names(self, node: cst.CSTNode) -> Iterable[QualifiedName]:
        scope = self.get_metadata(ScopeProvider, node, None)
        return scope.get_qualified_names_for(node) if scope is not None else ()


def _execution_scope(scope: Scope | None) -> str:
    """When code in `scope` runs: "function" once some function is called, else "class" or "module" (on import).

    Comprehensions run where they stand; decorators and default values belong to the enclosing scope already.
    """
    in_class = False
    while scope is not None and not isinstance(scope, GlobalScope):
        if isinstance(scope, FunctionScope):  # includes lambdas
            return "function"
        in_class = in_class or isinstance(scope, ClassScope)
        scope = scope.parent
    return "class" if in_class else "module"


def _thread_subclasses(class_bases: dict[str, frozenset[QualifiedName]]) -> set[str]:
    """Local names of the classes that derive, directly or through other local classes, from a thread class."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, bases in class_bases.items():
            if name not in found and any(_is_thread_class(base, found) for base in bases):
                found.add(name)
                changed = True
    return found


def _is_thread_class(name: QualifiedName, thread_subclasses: set[str]) -> bool:
    if name.source is QualifiedNameSource.IMPORT:
        return name.name in THREAD_CALLS
    return name.source is QualifiedNameSource.LOCAL and name.name in thread_subclasses


def _finding(
    call: _Call, source: _SourceFile, thread_subclasses: set[str], line_of: Callable[[cst.Call], int]
) -> Finding | None:
    # Only imported names count: a local `Thread` class or a `mylib.Thread` is someone else's Thread.
    for name in sorted(q.name for q in call.names if q.source is QualifiedNameSource.IMPORT):
        if name in THREAD_CALLS:
            return RuntimeThread(
                call=name, scope=call.scope, module=source.module, file=source.file, line=line_of(call.node)
            )
        if name in FORK_CALLS:
            return ForkCall(
                call=name, scope=call.scope, module=source.module, file=source.file, line=line_of(call.node)
            )
        if name == ATFORK_CALL:
            hooks = tuple(hook for hook in ATFORK_HOOKS if hook in call.keywords)
            return AtforkHandler(
                module=source.module, hooks=hooks, file=source.file, line=line_of(call.node), static=True
            )
    for name in sorted(q.name for q in call.names if q.source is QualifiedNameSource.LOCAL):
        if name in thread_subclasses:
            qualified = f"{source.module}.{name}" if source.module else name
            return RuntimeThread(
                call=qualified, scope=call.scope, module=source.module, file=source.file, line=line_of(call.node)
            )
    return None
