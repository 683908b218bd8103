"""Turns the bootstrap's report into findings, each blamed on the distribution whose code caused it.

Blame follows docs/verdicts.md: "the package whose code started the thread, not every package that imports it".
For an event with a stack (Python threads, processes, sockets, at-fork handlers) the blamed code is the innermost
*module body* that is running, since that is the import that started it: numpy's module when pandas imports numpy,
but app's module when app's module body calls `sentry_sdk.init()`. Without a module body on the stack (a thread
started by a thread), the innermost frame of package code is blamed. Standard-library frames never count: they belong
to no distribution's RECORD. Native threads are blamed on the module whose own loading created them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from auditor.core.environments import module_name
from auditor.core.findings import (
    AtforkHandler,
    Finding,
    ProcessOnImport,
    SocketOnImport,
    ThreadOnImport,
    thread_kind,
)
from auditor.core.probe.libraries import recognise

MAX_STACK = 12
STDLIB = "<standard library>"


class NativeLibrary(TypedDict):
    """The `library` and `library_file` of a native thread's finding."""

    library: str | None
    library_file: str | None


@dataclass(frozen=True)
class Blame:
    distribution: str | None
    module: str | None
    file: str | None
    line: int | None


class Attributor:
    def __init__(
        self, owners: Mapping[str, str], site_packages: Path, versions: Mapping[str, str] | None = None
    ) -> None:
        self.owners = owners
        self.site_packages = str(site_packages.resolve())
        self.versions = versions or {}  # of the environment's distributions: what a blamed one was, for the record

    def owner(self, path: str | None) -> str | None:
        if not path or path.startswith("<"):
            return None
        return self.owners.get(path) or self.owners.get(os.path.realpath(path))

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.site_packages) if path.startswith(self.site_packages) else path

    def module_of(self, path: str) -> str | None:
        if not path.startswith(self.site_packages):
            return None
        return module_name(self.relative(path).replace(os.sep, "/"))

    def blame_stack(self, stack: list[list[Any]], *, origin: str | None, module: str | None) -> Blame:
        owned = [(frame, self.owner(frame[0])) for frame in stack]
        body = next(((f, d) for f, d in owned if f[2] == "<module>" and not str(f[0]).startswith("<string")), None)
        if body is not None and body[1] is None:
            # The body of a standard-library module (`random` registers an at-fork handler when first imported):
            # not the code of the package whose import pulled it in.
            return Blame(STDLIB, None, None, None)
        blamed = body[1] if body else None
        blamed = blamed or next((d for _, d in owned if d), None)
        if blamed is None:
            # No package frame (code run by exec, or from a `.pth` file): blame whatever was being loaded.
            return Blame(self.owner(origin), module, None, None)
        frame = next(f for f, d in owned if d == blamed)
        return Blame(blamed, self.module_of(frame[0]) or module, self.relative(frame[0]), int(frame[1]))

    def blame_event(self, event: Mapping[str, Any]) -> Blame:
        """An event with a stack (a Python thread, a process, a socket, an at-fork handler): see `blame_stack`."""
        return self.blame_stack(event.get("stack") or [], origin=event.get("origin"), module=event.get("module"))

    def blame_module(self, module: str | None, origin: str | None) -> Blame:
        return Blame(self.owner(origin), module, self.relative(origin) if origin else None, None)

    def blame_loading(self, event: Mapping[str, Any]) -> Blame:
        """An event without a stack: the module that was loading when it happened."""
        return self.blame_module(event.get("module"), event.get("origin"))

    def blame_native(self, event: Mapping[str, Any]) -> Blame:
        """A native thread is blamed on the module whose loading created it, unless the library it runs in (seen by
        the host) belongs to another distribution than that module, or the module is the standard library's (a
        thread started lazily while `weakref` loaded): then on the library's distribution, at the import that
        started it."""
        blame = self.blame_loading(event)
        library = event.get("library")
        owner = self.owner(library) if isinstance(library, str) else None
        if owner is None or owner == blame.distribution or not isinstance(library, str):
            return blame
        return Blame(owner, event.get("importing") or blame.module, self.relative(library), None)

    def native_library(self, event: Mapping[str, Any]) -> NativeLibrary:
        library = event.get("library")
        if not isinstance(library, str):
            known = recognise(None, str(event.get("name") or ""))
            return {"library": known.name if known else None, "library_file": None}
        known = recognise(library, str(event.get("name") or ""))
        return {"library": known.name if known else None, "library_file": self.relative(library)}

    def format_stack(self, stack: list[list[Any]]) -> tuple[str, ...]:
        frames = [f for f in stack if not str(f[0]).startswith("<frozen importlib")]
        return tuple(f"{self.relative(f[0])}:{f[1]} in {f[2]}" for f in frames[:MAX_STACK])


def findings_from_report(
    report: Mapping[str, Any], *, attributor: Attributor, distribution: str
) -> tuple[list[Finding], bool]:
    """The findings that belong to `distribution` (blamed on its own code), and whether it is fork-aware.

    Events no distribution can be blamed for, but that happened while one of `distribution`'s modules was being
    imported, are kept: the probe imported nothing else.
    """
    reading = _Reading(report, attributor, distribution)
    findings = [finding for kind in _KINDS for finding in kind(reading)]
    fork_aware = any(isinstance(finding, AtforkHandler) for finding in findings)
    return _counted(findings), fork_aware


class _Reading:
    """One probe report read for one distribution: which of its events are that distribution's own doing."""

    def __init__(self, report: Mapping[str, Any], attributor: Attributor, distribution: str) -> None:
        self.report = report
        self.attributor = attributor
        self.distribution = distribution
        self.loaded = _loaded_distributions(report, attributor)
        trial = report.get("fork")
        self.trial = trial if isinstance(trial, dict) else None
        self.stopped = set(self.trial.get("stopped") or ()) if self.trial else set()

    def own(
        self, key: str, blame_of: Callable[[Mapping[str, Any]], Blame]
    ) -> Iterator[tuple[Mapping[str, Any], Blame]]:
        """The events of `key` that are the distribution's own, each with its blame, in the report's order."""
        for event in _records(self.report, key):
            blame = blame_of(event)
            if self.mine(blame, event):
                yield event, blame

    def mine(self, blame: Blame, event: Mapping[str, Any], alive: bool | None = None) -> bool:
        alive = event.get("alive") is True if alive is None else alive
        if blame.distribution not in (None, STDLIB):
            # Something alive blamed on a distribution none of whose modules this probe loaded was not started by
            # it: only code named after its files, which is the probed distribution's own doing.
            return blame.distribution == self.distribution or (alive and blame.distribution not in self.loaded)
        # A thread or process alive after the import that no distribution can be blamed for is the probed one's:
        # the probe imported nothing else, the standard library starts none on import, and a package that blanks
        # its stack in the report, or runs code under a standard-library file name, must not hide it so.
        return alive or (blame.distribution is None and event.get("module") is not None)

    def at_fork(self, event: Mapping[str, Any], tid: Any) -> str | None:
        """What the fork trial saw of a live thread: "stopped" by its library, or "survived" (None: no trial)."""
        if self.trial is None or event.get("alive") is not True:
            return None
        return "stopped" if tid in self.stopped else "survived"


def _python_threads(reading: _Reading) -> Iterator[Finding]:
    attributor = reading.attributor
    for event, blame in reading.own("threads", attributor.blame_event):
        yield ThreadOnImport(
            thread=str(event.get("name")),
            native=False,
            alive_after_import=bool(event.get("alive")),
            module=blame.module,
            trigger=event.get("importing"),
            daemon=event.get("daemon"),
            file=blame.file,
            line=blame.line,
            stack=attributor.format_stack(event.get("stack") or []),
            at_fork=reading.at_fork(event, event.get("native_id")),
        )


def _native_threads(reading: _Reading) -> Iterator[Finding]:
    attributor = reading.attributor
    for event, blame in reading.own("native_threads", attributor.blame_native):
        yield ThreadOnImport(
            thread=str(event.get("name") or "?"),
            native=True,
            alive_after_import=bool(event.get("alive")),
            module=blame.module,
            trigger=event.get("importing"),
            file=blame.file,
            at_fork=reading.at_fork(event, event.get("tid")),
            **attributor.native_library(event),
        )


def _transient_native_threads(reading: _Reading) -> Iterator[Finding]:
    attributor = reading.attributor
    for event, blame in reading.own("transient_native", attributor.blame_loading):
        yield ThreadOnImport(
            thread="(short-lived native thread)",
            native=True,
            alive_after_import=False,
            module=blame.module,
            trigger=event.get("importing"),
            file=blame.file,
            count=int(event.get("count") or 1),
        )


def _unexplained_threads(reading: _Reading) -> Iterator[Finding]:
    for event in _records(reading.report, "unexplained"):
        # A live thread only the host saw: the probe imported nothing but this distribution and its dependencies,
        # and whatever hid the thread from the report also hid who started it.
        yield ThreadOnImport(
            thread=str(event.get("name") or "?"),
            native=True,
            alive_after_import=True,
            module=None,
            unexplained=True,
            **reading.attributor.native_library(event),
        )


def _sockets(reading: _Reading) -> Iterator[Finding]:
    attributor = reading.attributor
    for event, blame in reading.own("sockets", attributor.blame_event):
        yield SocketOnImport(
            family=str(event.get("family")),
            open_after_import=bool(event.get("open")),
            module=blame.module,
            trigger=event.get("importing"),
            address=event.get("address"),
            file=blame.file,
            line=blame.line,
            stack=attributor.format_stack(event.get("stack") or []),
        )


def _atfork_handlers(reading: _Reading) -> Iterator[Finding]:
    for event, blame in reading.own("atfork", reading.attributor.blame_event):
        yield AtforkHandler(
            module=blame.module,
            trigger=event.get("importing"),
            hooks=tuple(event.get("hooks") or ()),
            file=blame.file,
            line=blame.line,
        )


def _counted(findings: list[Finding]) -> list[Finding]:
    """Threads of one kind started from one place are one finding with their count (numexpr's two workers), in the
    order they were first seen; a thread's number in its default name (`Thread-3 (work)`) does not make a kind."""
    merged: dict[tuple[Any, ...], ThreadOnImport] = {}
    result: list[Finding] = []
    for finding in findings:
        if not isinstance(finding, ThreadOnImport):
            result.append(finding)
            continue
        kind = (
            thread_kind(finding.thread),
            finding.native,
            finding.alive_after_import,
            finding.daemon,
            finding.module,
            finding.file,
            finding.line,
            finding.unexplained,
        )
        first = merged.get(kind)
        if first is None:
            merged[kind] = finding
            result.append(finding)
        else:
            merged[kind] = dataclasses.replace(first, count=first.count + finding.count)
            result[result.index(first)] = merged[kind]
    return result


def foreign_threads(report: Mapping[str, Any], *, attributor: Attributor, distribution: str) -> list[dict[str, Any]]:
    """The threads alive after the import that the report blames on another distribution: what the probed one claims
    of others, checked against their own probes (auditor.core.blame), since the report may be forged."""
    claims: list[dict[str, Any]] = []
    loaded = _loaded_distributions(report, attributor)
    for key, native in (("threads", False), ("native_threads", True)):
        for event in _records(report, key):
            if not event.get("alive"):
                continue
            blame = attributor.blame_native(event) if native else attributor.blame_event(event)
            if blame.distribution in (None, distribution, STDLIB) or blame.distribution not in loaded:
                continue
            claim: dict[str, Any] = {
                "distribution": blame.distribution,
                "version": attributor.versions.get(blame.distribution, ""),
                "thread": str(event.get("name") or "?"),
                "native": native,
            }
            if native:
                claim.update(attributor.native_library(event))
            claims.append(claim)
    return claims


def _processes(reading: _Reading) -> Iterator[Finding]:
    """One finding per spawn, alive if a process still running after the import looks like what it started; spawns
    of the same program from the same line that ended are one finding with their count.

    A process still running that no recorded spawn explains (started from native code) is the probed
    distribution's: the probe imported nothing but its modules and their dependencies.
    """
    report, attributor = reading.report, reading.attributor
    alive = [str(p.get("command") or "") for p in _records(report, "processes")]
    ended: dict[tuple[str | None, str | None, int | None, str], ProcessOnImport] = {}
    for event in _records(report, "spawns"):
        blame = attributor.blame_event(event)
        command = str(event.get("command") or "")
        matches = [c for c in alive if c and command and (c == command or c in command or command in c)]
        if event.get("event") in ("os.fork", "os.forkpty") and alive and not matches:
            matches = alive[:1]  # a forked child runs the same program: it has no command of its own
        for c in matches:
            alive.remove(c)
        if not reading.mine(blame, event, alive=bool(matches)):
            continue
        finding = ProcessOnImport(
            command=command or str(event.get("event")),
            alive_after_import=bool(matches),
            module=blame.module,
            trigger=event.get("importing"),
            file=blame.file,
            line=blame.line,
            stack=attributor.format_stack(event.get("stack") or []),
        )
        if finding.alive_after_import:
            yield finding
            continue
        # A module whose import fails runs again for each module that imports it: Django's GIS modules look for
        # GDAL with ctypes.util.find_library, three programs a time, 3,000 times in a deep probe. One finding
        # per program and line says the same.
        key = (finding.module, finding.file, finding.line, finding.command.split(maxsplit=1)[0])
        first = ended.get(key)
        ended[key] = finding if first is None else dataclasses.replace(first, count=first.count + 1)
    yield from ended.values()
    for command in alive:
        yield ProcessOnImport(command=command, alive_after_import=True, module=None)
    for process in _records(report, "unexplained_processes"):
        # Seen running in the sandbox from outside, missing from the report: the probed distribution's.
        yield ProcessOnImport(command=str(process.get("command") or "?"), alive_after_import=True, module=None)


# Every kind of event in a report, in the order its findings are listed.
_KINDS: tuple[Callable[[_Reading], Iterable[Finding]], ...] = (
    _python_threads,
    _native_threads,
    _transient_native_threads,
    _unexplained_threads,
    _processes,
    _sockets,
    _atfork_handlers,
)


def _loaded_distributions(report: Mapping[str, Any], attributor: Attributor) -> set[str]:
    """The distributions whose modules the probe loaded (a report without that list: every distribution)."""
    files = report.get("loaded")
    if not isinstance(files, list):
        return set(attributor.owners.values())
    return {owner for file in files if (owner := attributor.owner(str(file)))}


def _records(report: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = report.get(key)
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []
