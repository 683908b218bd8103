"""The static scan's libcst pass: every call in a file excerpt, by qualified name.

Imported only where files are parsed (the scan's worker processes), since libcst takes a while to import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import libcst as cst
from libcst import BatchableCSTVisitor
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
from auditor.core.static.names import ATFORK_CALL, ATFORK_HOOKS, FORK_CALLS, THREAD_CALLS, Excerpt, SourceFile

# libcst asks each of its metadata visitors (the scope analysis and the expression contexts it needs) for its visit_
# and leave_ methods once per file, with inspect.getmembers over all of the instance's hundreds of attributes: a third
# of the scope analysis's time. Which methods those are depends only on the class, so their names are found once per
# class (by libcst's own code) and bound to each new instance.
_get_visitors = BatchableCSTVisitor.get_visitors
_VISITOR_NAMES: dict[type, tuple[str, ...]] = {}


def _cached_get_visitors(self: BatchableCSTVisitor) -> Mapping[str, Callable[[cst.CSTNode], object]]:
    names = _VISITOR_NAMES.get(type(self))
    if names is None:
        names = _VISITOR_NAMES[type(self)] = tuple(_get_visitors(self))
    return {name: getattr(self, name) for name in names}


BatchableCSTVisitor.get_visitors = _cached_get_visitors  # type: ignore[method-assign, assignment]


@dataclass(frozen=True)
class _Call:
    names: frozenset[QualifiedName]
    scope: str
    node: cst.Call  # its position is computed only when the call turns out to be a finding
    keywords: tuple[str, ...]


def findings_in(source: SourceFile, excerpt: Excerpt) -> list[Finding]:
    """Findings in one file excerpt that passed `auditor.core.static.prefilter` (which keeps libcst from crashing on
    it)."""
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
    call: _Call, source: SourceFile, thread_subclasses: set[str], line_of: Callable[[cst.Call], int]
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
