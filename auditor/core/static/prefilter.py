"""The static scan's cheap pass: which files libcst must read, and which of their statements.

Plain text tests, then CPython's own parser (a hundred times cheaper than libcst's), keep from libcst every file
that cannot call a watched name (nine in ten), and from the rest the statements that cannot matter.
"""

from __future__ import annotations

import ast
import bisect
import re
import threading
import warnings
from pathlib import Path
from typing import cast

from auditor.core.static.names import LAST_NAMES, WATCHED_MODULES, Excerpt

MAX_FILE_BYTES = 2 * 1024 * 1024

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
_NAMES = "|".join(sorted(LAST_NAMES, key=len, reverse=True))
_CALLS_WATCHED = re.compile(
    rf"\b(?:{_NAMES})\b[\s\\)]*(?:#[^\n]*\n[\s\\)]*)*\(|\b(?:{_NAMES})\s+as\b|\bclass\b[^:]*\b(?:Thread|Timer)\b".encode()
)
_PARSE_LOCK = threading.Lock()
# The nodes whose positions say what to keep: statements, expressions and except clauses all have one.
_Positioned = ast.stmt | ast.expr | ast.excepthandler

# CPython reports code nested too deeply for its own parser with these; libcst's native parser crashes the whole
# process (SIGSEGV) on such input instead of raising, so the file is skipped before libcst sees it.
_TOO_DEEP_MESSAGES = ("too many nested", "too many levels", "too complex")


def read_candidate(path: Path) -> bytes | None:
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


def worth_parsing(text: bytes) -> Excerpt | None:
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
            # "exec" with PyCF_ONLY_AST gives a Module; typeshed can only say AST.
            tree = cast(ast.Module, compile(text, "<scanned>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True))
    except (RecursionError, MemoryError, ValueError):
        return None
    except SyntaxError as error:
        # Any other syntax error may be newer syntax than this interpreter knows (PEP 695, PEP 701): libcst decides.
        return None if any(message in str(error.msg) for message in _TOO_DEEP_MESSAGES) else Excerpt(text)
    watched = (WATCHED_MODULES | {"os"}) if forks else WATCHED_MODULES
    imports_watched = False
    callable_names = set(LAST_NAMES)
    calls: list[ast.Call] = []
    classes: list[ast.ClassDef] = []
    imports: list[tuple[ast.stmt, set[str]]] = []  # each import statement, and the names it binds
    bindings: list[tuple[str, _Positioned]] = []  # every other node that binds a name
    anchors: list[ast.stmt] = []  # statements that can make any name mean something else: kept whatever they name
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            calls.append(node)
        elif isinstance(node, ast.Name):
            if type(node.ctx) is not ast.Load:
                bindings.append((node.id, node))
        elif isinstance(node, ast.Import):
            imports_watched |= any(alias.name.partition(".")[0] in watched for alias in node.names)
            imports.append((node, {alias.asname or alias.name.partition(".")[0] for alias in node.names}))
        elif isinstance(node, ast.ImportFrom):
            imports.append((node, {alias.asname or alias.name for alias in node.names}))
            if any(alias.name == "*" for alias in node.names):
                anchors.append(node)
            if node.level == 0 and node.module:
                imports_watched |= node.module.partition(".")[0] in watched
                callable_names |= {a.asname for a in node.names if a.asname and a.name in LAST_NAMES}
        elif isinstance(node, ast.ClassDef):
            classes.append(node)
            bindings.append((node.name, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ExceptHandler)):
            if node.name:
                bindings.append((node.name, node))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
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
    relevant: list[_Positioned] = [*watched_calls, *anchors]
    relevant += [node for name, node in bindings if name in names]
    relevant += [node for node, bound in imports if bound & names]
    return _relevant_source(text, tree, sorted((node.lineno, node.col_offset) for node in relevant))


def _relevant_source(text: bytes, tree: ast.Module, relevant: list[tuple[int, int]]) -> Excerpt:
    """What of `text` can hold or name a finding, with the original number of each line it keeps.

    A top-level statement is kept when it holds one of the `relevant` positions (line, column; sorted), and inside a
    kept statement, every statement that holds none is replaced by `pass` (see _replace_nested). libcst's scope
    analysis then costs what the relevant code costs, not the whole file (redis's cluster.py: bench/README.md,
    finding 4). Lines are dropped rather than blanked because libcst pays for empty lines too.
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
