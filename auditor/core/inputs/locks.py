"""Lock files as input: uv.lock, pylock.toml (PEP 751), poetry.lock and Pipfile.lock, recognised by their names.

A lock is read into a `Lock`, which does not depend on the machine: its markers are evaluated later, for the audit's
interpreter (`Lock.select`, with `marker_environment`), into exact pins (`name[extras]==version`) that the resolution
takes like a fully pinned requirements file. The versions are the lock's; the index it names is not followed (the
set is resolved again from the configured index, like a requirements file), and its hashes are not checked.

What reaches outside the index (VCS, URL and local path sources) is refused, naming the package and its line, unless
the operator allows it, as in requirements files. An editable or virtual project (uv.lock's workspace members, an
editable directory of the other formats) is the user's own code, not a dependency: it is skipped, and what it
requires is audited.

The lock's dependency edges decide which packages apply (uv.lock, and poetry.lock before Poetry 2, whose packages
carry no markers of their own) and, for uv.lock, which are direct (what the projects require). The report's paths come
from uv's resolution of the pins: given the same pins, with the same extras, for the same interpreter, it finds the
same edges (a test holds the two to that), so the graph is computed one way.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.core.inputs.errors import InputError, excerpt
from auditor.core.resolve import ResolutionError

# Larger than a requirements file's limit: a lock lists every file of every version (hashes, URLs, sizes), and a large
# project's uv.lock reaches megabytes.
MAX_LOCK_FILE_BYTES = 10_000_000
LOCK_NAMES = "uv.lock, pylock.toml, pylock.<name>.toml, poetry.lock, Pipfile.lock"

_EXTERNAL = "it reaches outside the configured package index, unless FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS=true"
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def lock_format(name: str) -> str | None:
    """ "uv", "pylock", "poetry" or "pipfile" when the file's name is a lock file's, else None."""
    base = PurePosixPath(name.replace("\\", "/")).name.lower()
    if base == "uv.lock":
        return "uv"
    if base == "pylock.toml" or (base.startswith("pylock.") and base.endswith(".toml") and base.count(".") == 2):
        return "pylock"
    return {"poetry.lock": "poetry", "pipfile.lock": "pipfile"}.get(base)


def is_lock_file(name: str) -> bool:
    return lock_format(name) is not None


@dataclass(frozen=True)
class Dependency:
    """One edge of the lock: a package that another requires (or that the project requires, for a root)."""

    name: str
    marker: str | None = None
    extras: tuple[str, ...] = ()
    version: str | None = None  # uv.lock: which of several versions of the name
    specifier: str = ""  # poetry.lock: the versions it accepts (picks among several versions of the name)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    marker: str | None = None  # flat formats: when it is needed
    location: str | None = None  # an external source the operator allowed: a URL, or a local path
    dependencies: tuple[Dependency, ...] = ()
    optional: tuple[tuple[str, tuple[Dependency, ...]], ...] = ()  # (extra, what it adds)
    project: bool = False  # the user's own (editable or virtual) project: not audited; what it requires is
    extras: tuple[str, ...] = ()  # flat formats: the extras the lock asks of it
    line: int | None = None  # where the lock writes it (for reports that point at the line that brings it in)

    def requirement(self, extras: Iterable[str]) -> str:
        """The line uv is given: the exact pin, with the extras the lock asks of it."""
        extras = sorted(extras)
        spelled = self.name + (f"[{','.join(extras)}]" if extras else "")
        if self.location is None:
            return f"{spelled}=={self.version}"
        if _URL.match(self.location):
            return f"{spelled} @ {self.location}"
        return self.location + (f"[{','.join(extras)}]" if extras else "")


@dataclass(frozen=True)
class Selection:
    """What a lock pins for one interpreter."""

    requirements: tuple[str, ...]
    direct: frozenset[str] | None  # what the lock's projects require; None: the lock does not say
    edges: frozenset[tuple[str, str]]  # the lock's own edges among the pins (empty for the flat formats)

    def direct_of(self, pins: Mapping[str, str], edges: Iterable[tuple[str, str]]) -> frozenset[str]:
        """The direct requirements of the resolved set: the lock's, else the graph's roots (what nothing else in it
        requires; in a cycle that nothing leads to, its first member by name)."""
        if self.direct is not None:
            return self.direct & pins.keys()
        required_by: dict[str, set[str]] = {}
        for requirer, dependency in edges:
            required_by.setdefault(requirer, set()).add(dependency)
        required = {b for a, b in edges if a != b}
        roots = {name for name in pins if name not in required}
        reached = _reachable(roots, required_by)
        for name in sorted(pins):
            if name not in reached:
                roots.add(name)
                reached |= _reachable({name}, required_by)
        return frozenset(roots)


@dataclass(frozen=True)
class Lock:
    file: str
    packages: tuple[Package, ...]
    roots: tuple[Dependency, ...] | None  # what the lock's projects require; None: the graph's roots
    flat: bool = False  # no edges: each package says itself when it is needed (its marker)
    lock_file_markers: bool = False  # pylock.toml: its markers may test `extras` and `dependency_groups`
    groups: frozenset[str] = frozenset()  # pylock.toml: the dependency groups its markers see as installed

    def select(self, environment: Mapping[str, str]) -> Selection:
        """The packages needed on the interpreter whose marker `environment` is given, as exact pins. Raises
        ResolutionError when none is, or when two versions of one package are."""
        direct: frozenset[str] | None = None
        edges: set[tuple[str, str]] = set()
        if self.flat:
            chosen = {p: set(p.extras) for p in self.packages if not p.project and self._holds(p.marker, environment)}
        else:
            chosen, direct, edges = self._walk(environment)
        by_name: dict[str, list[Package]] = {}
        for package in chosen:
            by_name.setdefault(package.name, []).append(package)
        for name, versions in sorted(by_name.items()):
            if len(versions) > 1:
                listed = ", ".join(sorted(p.version for p in versions))
                raise ResolutionError(f"{self.file}: {name}: versions {listed} all apply to this Python and platform")
        if not chosen:
            raise ResolutionError(f"{self.file}: no package of the lock applies to this Python and platform")
        requirements = tuple(sorted(p.requirement(extras) for p, extras in chosen.items()))
        return Selection(requirements, direct, frozenset(edges))

    def _walk(
        self, environment: Mapping[str, str]
    ) -> tuple[dict[Package, set[str]], frozenset[str] | None, set[tuple[str, str]]]:
        """Follow the edges whose markers hold from the roots: the packages reached, with the extras asked of each."""
        roots = self.roots if self.roots is not None else self._graph_roots()
        chosen: dict[Package, set[str]] = {}
        direct: set[str] = set()
        edges: set[tuple[str, str]] = set()
        # (requirer, dependency, the extra it comes with); a requirer of None is the project
        queue: deque[tuple[Package | None, Dependency, str]] = deque((None, d, "") for d in roots)
        while queue:
            requirer, dependency, extra = queue.popleft()
            if not self._holds(dependency.marker, environment, extra):
                continue
            for package in self._candidates(dependency):
                if requirer is None or requirer.project:
                    direct.add(package.name)
                else:
                    edges.add((requirer.name, package.name))
                known = chosen.get(package)
                new_extras = set(dependency.extras) - (known or set())
                if known is None:
                    queue.extend((package, d, "") for d in package.dependencies)
                chosen.setdefault(package, set()).update(dependency.extras)
                for name in sorted(new_extras):
                    queue.extend((package, d, name) for d in dict(package.optional).get(name, ()))
        projects = [p for p in chosen if p.project]
        for project in projects:
            del chosen[project]
        return chosen, frozenset(direct) if self.roots is not None else None, edges

    def _graph_roots(self) -> tuple[Dependency, ...]:
        """Each package that no other requires (a lock that does not name its project's requirements)."""
        required = {d.name for p in self.packages for d in p.dependencies if d.name != p.name}
        return tuple(Dependency(p.name, version=p.version) for p in self.packages if p.name not in required)

    def _candidates(self, dependency: Dependency) -> list[Package]:
        found = [p for p in self.packages if p.name == dependency.name]
        if dependency.version is not None:
            found = [p for p in found if p.version == dependency.version]
        if len(found) > 1 and dependency.specifier:
            try:
                accepted = SpecifierSet(dependency.specifier)
                found = [p for p in found if accepted.contains(p.version, prereleases=True)] or found
            except (InvalidSpecifier, InvalidVersion):
                pass  # a constraint in Poetry's own syntax: the versions' conflict, if any, is reported
        return found  # a dependency the lock does not list (an optional one Poetry left out) adds nothing

    def _holds(self, marker: str | None, environment: Mapping[str, str], extra: str = "") -> bool:
        if marker is None:
            return True
        values: dict[str, Any] = {**environment, "extra": extra}
        if not self.lock_file_markers:
            return Marker(marker).evaluate(values)
        # PEP 751's own marker variables (packaging 25 and later): the lock's extras (none asked) and groups.
        values |= {"extras": frozenset(), "dependency_groups": self.groups}
        return Marker(marker).evaluate(values, context="lock_file")


def _reachable(starts: set[str], required_by: Mapping[str, set[str]]) -> set[str]:
    found, frontier = set(starts), list(starts)
    while frontier:
        for name in required_by.get(frontier.pop(), ()):
            if name not in found:
                found.add(name)
                frontier.append(name)
    return found


# --- reading ----------------------------------------------------------------------------------------------------


def parse_lock(name: str, content: str | bytes, *, allow_external: bool = False, dev: bool = False) -> Lock:
    """Read the lock file called `name` (its format is known by the name). `dev` also takes its development
    dependencies (uv.lock's dev groups, poetry.lock's groups besides main, Pipfile.lock's develop, pylock.toml's
    dependency groups). Raises InputError naming the file, and the line when it is known."""
    kind = lock_format(name)
    if kind is None:
        raise InputError(f"is not a lock file (lock files are recognised by name: {LOCK_NAMES})", file=name)
    text = _text(name, content)
    reader = _Reader(name, text, allow_external=allow_external)
    data = reader.load(as_json=kind == "pipfile")
    lock = {"uv": _uv, "pylock": _pylock, "poetry": _poetry, "pipfile": _pipfile}[kind](reader, data, dev)
    if not lock.packages:
        raise InputError("lists no packages", file=name)
    return lock


def _text(name: str, content: str | bytes) -> str:
    size = len(content.encode("utf-8", errors="replace") if isinstance(content, str) else content)
    if size > MAX_LOCK_FILE_BYTES:
        raise InputError(f"is larger than the limit of {MAX_LOCK_FILE_BYTES:,} bytes for a lock file", file=name)
    if isinstance(content, str):
        return content
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise InputError(f"is not valid UTF-8 text (byte {content[exc.start]:#04x})", file=name, line=line) from None


class _Reader:
    """The file being read: its name and text, for messages that name the line of a package."""

    def __init__(self, name: str, text: str, *, allow_external: bool) -> None:
        self.name = name
        self.text = text
        self.allow_external = allow_external
        self.lines = text.splitlines()

    def load(self, *, as_json: bool) -> dict[str, Any]:
        if as_json:
            try:
                data = json.loads(self.text)
            except ValueError as exc:
                line = getattr(exc, "lineno", None)
                raise InputError(f"is not valid JSON ({getattr(exc, 'msg', exc)})", file=self.name, line=line) from None
        else:
            try:
                data = tomllib.loads(self.text.removeprefix("\ufeff"))
            except tomllib.TOMLDecodeError as exc:
                found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
                reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "syntax error"
                raise InputError(
                    f"is not valid TOML ({reason})", file=self.name, line=int(found.group(1)) if found else None
                ) from None
        if not isinstance(data, dict):
            raise InputError("is not a lock file (its top level is not a table)", file=self.name)
        return data

    def error(self, message: str, line: int | None = None) -> InputError:
        return InputError(message, file=self.name, line=line)

    def table_lines(self, header: str) -> list[int]:
        """The line of each `[[header]]`: package i's line, when every package is written as such a table."""
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]\s*(#.*)?$")
        return [number for number, line in enumerate(self.lines, start=1) if pattern.match(line)]

    def key_line(self, key: str, after: int = 0) -> int | None:
        """The first line, after line `after`, where the JSON key `key` opens an object (Pipfile.lock's packages)."""
        pattern = re.compile(rf"^\s*{re.escape(json.dumps(key))}\s*:\s*\{{")
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if pattern.match(line):
                return number
        return None

    def name_of(self, value: Any, where: str, line: int | None) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.error(f"{where}: {excerpt(str(value))} is not a package name", line)
        return canonicalize_name(value)

    def version_of(self, value: Any, name: str, line: int | None) -> str:
        if not isinstance(value, str):
            raise self.error(f"{name}: no version", line)
        try:
            Version(value)
        except InvalidVersion:
            raise self.error(f"{name}: {excerpt(value)} is not a version", line) from None
        return value

    def marker_of(self, value: Any, name: str, line: int | None) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error(f"{name}: a marker must be a string", line)
        try:
            Marker(value)
        except InvalidMarker:
            raise self.error(f"{name}: {excerpt(value)} is not a valid marker", line) from None
        return value

    def external(self, name: str, kind: str, location: Any, line: int | None) -> str:
        """A source outside the index: refused, unless the operator allows it (then its location is kept)."""
        shown = location if isinstance(location, str) else ""
        if not self.allow_external:
            raise self.error(f"{name}: {kind} ({excerpt(shown)}) is not allowed ({_EXTERNAL})", line)
        if not shown:
            raise self.error(f"{name}: {kind} without a location", line)
        return shown


def _tables(reader: _Reader, value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise reader.error(f"{where} must be a list of tables")
    return value


def _line(lines: list[int], index: int, count: int) -> int | None:
    return lines[index] if len(lines) == count else None


def _extras(reader: _Reader, value: Any, name: str, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(e, str) and _NAME.match(e) for e in value):
        raise reader.error(f"{name}: extras must be a list of names", line)
    return tuple(sorted(canonicalize_name(e) for e in value))


# uv.lock ------------------------------------------------------------------------------------------------------------


def _uv(reader: _Reader, data: dict[str, Any], dev: bool) -> Lock:
    if data.get("version") != 1:
        raise reader.error(f"uv.lock version {excerpt(str(data.get('version')))} is not supported (forkaudit reads 1)")
    raw = _tables(reader, data.get("package"), "package")
    lines = reader.table_lines("package")
    packages, roots = [], []
    for index, table in enumerate(raw):
        line = _line(lines, index, len(raw))
        name = reader.name_of(table.get("name"), f"package #{index + 1}", line)
        source = table.get("source")
        if not isinstance(source, dict) or len(source) != 1:
            kinds = "registry, git, url, path, directory, editable or virtual"
            raise reader.error(f"{name}: no source (one of {kinds})", line)
        [(kind, location)] = source.items()
        dependencies = _uv_dependencies(reader, table.get("dependencies"), name, line)
        optional = tuple(
            (canonicalize_name(extra), tuple(_uv_dependencies(reader, entries, name, line)))
            for extra, entries in _mapping(reader, table.get("optional-dependencies"), name, line).items()
        )
        if kind in ("editable", "virtual"):
            # The user's own project (a workspace member): its requirements are the lock's direct ones.
            roots += dependencies
            if dev:
                groups = _mapping(reader, table.get("dev-dependencies"), name, line)
                for entries in groups.values():
                    roots += _uv_dependencies(reader, entries, name, line)
            version = str(table.get("version", ""))  # a project's version may be dynamic, and is not used
            packages.append(Package(name, version, None, None, tuple(dependencies), optional, project=True))
            continue
        version = reader.version_of(table.get("version"), name, line)
        external = {"git": "a git source", "url": "a URL source", "path": "a local path source"}
        external["directory"] = "a local directory source"
        if kind == "registry":
            spot = None
        elif kind in external:
            spot = reader.external(name, external[kind], location, line)
            spot = _git_url(spot) if kind == "git" else spot
        else:
            raise reader.error(f"{name}: unknown source {excerpt(kind)}", line)
        packages.append(Package(name, version, None, spot, tuple(dependencies), optional, line=line))
    has_projects = any(p.project for p in packages)
    if not has_projects:
        # A script's lock (`uv lock --script`) or a workspace without a root project: its manifest's requirements.
        manifest = _mapping(reader, data.get("manifest"), "manifest", None)
        roots += _uv_dependencies(reader, manifest.get("requirements"), "manifest", None)
    return Lock(reader.name, tuple(packages), tuple(roots) if has_projects or roots else None)


def _uv_dependencies(reader: _Reader, value: Any, requirer: str, line: int | None) -> list[Dependency]:
    found = []
    for entry in _tables(reader, value, f"{requirer}: dependencies"):
        name = reader.name_of(entry.get("name"), f"{requirer}: a dependency", line)
        version = entry.get("version")
        found.append(
            Dependency(
                name,
                marker=reader.marker_of(entry.get("marker"), name, line),
                extras=_extras(reader, entry.get("extra", entry.get("extras")), name, line),
                version=str(version) if version is not None else None,
            )
        )
    return found


def _git_url(location: str) -> str:
    """uv.lock's `https://host/repo?rev=main#<commit>` as a requirement's `git+https://host/repo@<commit>`."""
    url, _, commit = location.partition("#")
    base, _, query = url.partition("?")
    subdirectory = re.search(r"(?:^|&)subdirectory=([^&]+)", query)
    suffix = f"#subdirectory={subdirectory.group(1)}" if subdirectory else ""
    return f"git+{base}@{commit}{suffix}" if commit else f"git+{base}{suffix}"


def _mapping(reader: _Reader, value: Any, where: str, line: int | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise reader.error(f"{where}: expected a table", line)
    return value


# pylock.toml (PEP 751) ------------------------------------------------------------------------------------------------


def _pylock(reader: _Reader, data: dict[str, Any], dev: bool) -> Lock:
    version = str(data.get("lock-version", ""))
    if not re.fullmatch(r"1(\.\d+)*", version):
        raise reader.error(f"lock-version {excerpt(version)} is not supported (forkaudit reads 1.x)")
    raw = _tables(reader, data.get("packages"), "packages")
    lines = reader.table_lines("packages")
    default_groups = _names(reader, data.get("default-groups"), "default-groups")
    all_groups = _names(reader, data.get("dependency-groups"), "dependency-groups")
    packages = []
    for index, table in enumerate(raw):
        line = _line(lines, index, len(raw))
        name = reader.name_of(table.get("name"), f"packages #{index + 1}", line)
        marker = reader.marker_of(table.get("marker"), name, line)
        directory = _mapping(reader, table.get("directory"), name, line)
        if directory.get("editable") is True:
            packages.append(Package(name, str(table.get("version", "")), marker, project=True))
            continue
        location = None
        if "vcs" in table:
            vcs = _mapping(reader, table["vcs"], name, line)
            url = reader.external(name, f"a {vcs.get('type', 'VCS')} source", vcs.get("url") or vcs.get("path"), line)
            commit = vcs.get("commit-id")
            location = f"{vcs.get('type', 'git')}+{url}" + (f"@{commit}" if isinstance(commit, str) else "")
        elif directory:
            location = reader.external(name, "a local directory source", directory.get("path"), line)
        elif "archive" in table:
            archive = _mapping(reader, table["archive"], name, line)
            where = archive.get("url") or archive.get("path")
            location = reader.external(name, "an archive source", where, line)
        version = reader.version_of(table.get("version"), name, line) if location is None else ""
        packages.append(Package(name, version, marker, location, line=line))
    groups = frozenset(all_groups if dev else default_groups)
    return Lock(reader.name, tuple(packages), None, flat=True, lock_file_markers=True, groups=groups)


def _names(reader: _Reader, value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise reader.error(f"{where} must be a list of names")
    return value


# poetry.lock --------------------------------------------------------------------------------------------------------


def _poetry(reader: _Reader, data: dict[str, Any], dev: bool) -> Lock:
    metadata = _mapping(reader, data.get("metadata"), "metadata", None)
    spelled = str(metadata.get("lock-version", "1.0"))
    try:
        lock_version = Version(spelled)
    except InvalidVersion:
        raise reader.error(f"metadata: lock-version {excerpt(spelled)} is not a version") from None
    # Poetry 2 (lock-version 2.1) writes each package's groups and the markers under which it is needed; before
    # that, packages carry neither, and which apply follows from the edges (every group: the lock does not say).
    flat = lock_version >= Version("2.1")
    raw = _tables(reader, data.get("package"), "package")
    lines = reader.table_lines("package")
    packages = []
    for index, table in enumerate(raw):
        line = _line(lines, index, len(raw))
        name = reader.name_of(table.get("name"), f"package #{index + 1}", line)
        version = reader.version_of(table.get("version"), name, line)
        marker = None
        if flat:
            groups = _names(reader, table.get("groups", ["main"]), f"{name}: groups")
            wanted = groups if dev else [g for g in groups if g == "main"]
            if not wanted:
                continue
            marker = _poetry_marker(reader, table.get("markers"), wanted, name, line)
        elif table.get("category") == "dev" and not dev:  # Poetry before 1.2 said so
            continue
        source = _mapping(reader, table.get("source"), name, line)
        kind, location = source.get("type"), None
        if kind == "directory" and table.get("develop") is True:
            packages.append(Package(name, version, marker, project=True))
            continue
        if kind in ("git", "url", "file", "directory"):
            described = {"git": "a git source", "url": "a URL source", "file": "a local file source"}
            location = reader.external(name, described.get(kind, "a local directory source"), source.get("url"), line)
            if kind == "git":
                revision = source.get("resolved_reference") or source.get("reference")
                location = f"git+{location}" + (f"@{revision}" if isinstance(revision, str) else "")
        elif kind not in (None, "legacy"):
            raise reader.error(f"{name}: unknown source type {excerpt(str(kind))}", line)
        dependencies, optional_by_name = _poetry_dependencies(reader, table.get("dependencies"), name, line)
        optional = {}
        for extra, wanted_names in _mapping(reader, table.get("extras"), name, line).items():
            entries = []
            for spelled in _names(reader, wanted_names, f"{name}: extras"):
                target = canonicalize_name(re.split(r"[\s\[(<>=!~;]", spelled.strip(), maxsplit=1)[0])
                entries += optional_by_name.get(target, [Dependency(target)])
            optional[canonicalize_name(extra)] = tuple(entries)
        packages.append(
            Package(name, version, marker, location, tuple(dependencies), tuple(optional.items()), line=line)
        )
    return Lock(reader.name, tuple(packages), None, flat=flat)


def _poetry_marker(reader: _Reader, value: Any, groups: list[str], name: str, line: int | None) -> str | None:
    """A Poetry 2 package's marker for the wanted groups: one for all, or one per group (none: always)."""
    if not isinstance(value, dict):
        return reader.marker_of(value, name, line)
    markers = [reader.marker_of(value.get(group), name, line) for group in groups]
    if any(marker is None for marker in markers):
        return None
    return " or ".join(f"({marker})" for marker in markers)


def _poetry_dependencies(
    reader: _Reader, value: Any, requirer: str, line: int | None
) -> tuple[list[Dependency], dict[str, list[Dependency]]]:
    """[package.dependencies]: the edges, and the optional ones by name (what an extra adds)."""
    required: list[Dependency] = []
    optional: dict[str, list[Dependency]] = {}
    for spelled, constraints in _mapping(reader, value, f"{requirer}: dependencies", line).items():
        name = reader.name_of(spelled, f"{requirer}: a dependency", line)
        for constraint in constraints if isinstance(constraints, list) else [constraints]:
            if isinstance(constraint, str):
                constraint = {"version": constraint}
            if not isinstance(constraint, dict):
                raise reader.error(f"{requirer}: the dependency {name} is neither a version nor a table", line)
            dependency = Dependency(
                name,
                marker=reader.marker_of(constraint.get("markers"), name, line),
                extras=_extras(reader, constraint.get("extras"), name, line),
                specifier=str(constraint.get("version", "")),
            )
            (optional.setdefault(name, []) if constraint.get("optional") is True else required).append(dependency)
    return required, optional


# Pipfile.lock -------------------------------------------------------------------------------------------------------


def _pipfile(reader: _Reader, data: dict[str, Any], dev: bool) -> Lock:
    if "default" not in data and "_meta" not in data:
        raise reader.error("is not a Pipfile.lock (it has neither `default` nor `_meta`)")
    packages = []
    for section in ("default", "develop") if dev else ("default",):
        section_line = reader.key_line(section)
        for spelled, entry in _mapping(reader, data.get(section), section, section_line).items():
            line = reader.key_line(spelled, after=section_line or 0)
            name = reader.name_of(spelled, section, line)
            if not isinstance(entry, dict):
                raise reader.error(f"{name}: expected an object", line)
            marker = reader.marker_of(entry.get("markers"), name, line)
            if "path" in entry and entry.get("editable") is True:
                packages.append(Package(name, "", marker, project=True))
                continue
            location = None
            if "git" in entry:
                url = reader.external(name, "a git source", entry["git"], line)
                ref = entry.get("ref")
                location = f"git+{url}" + (f"@{ref}" if isinstance(ref, str) else "")
            elif "file" in entry:
                location = reader.external(name, "a file source", entry["file"], line)
            elif "path" in entry:
                location = reader.external(name, "a local path source", entry["path"], line)
            version = ""  # exact for a package from the index; none for one from another location
            if location is None:
                spelled_version = entry.get("version")
                if not isinstance(spelled_version, str) or not spelled_version.startswith("=="):
                    raise reader.error(
                        f"{name}: the version must be exact (==), not {excerpt(str(spelled_version))}", line
                    )
                version = reader.version_of(spelled_version.lstrip("="), name, line)
            extras = _extras(reader, entry.get("extras"), name, line)
            packages.append(Package(name, version, marker, location, extras=extras, line=line))
    # A package in both sections is the same pin twice.
    return Lock(reader.name, tuple(dict.fromkeys(packages)), None, flat=True)


# --- the audit's interpreter -------------------------------------------------------------------------------------


# What packaging.markers.default_environment() gives, computed by the audit's interpreter with its standard library
# only (-I -S: no `site`, no package code).
_ENVIRONMENT_SCRIPT = """
import json, os, platform, sys
v = sys.implementation.version
iv = f"{v.major}.{v.minor}.{v.micro}" + ("" if v.releaselevel == "final" else v.releaselevel[0] + str(v.serial))
print(json.dumps({
    "implementation_name": sys.implementation.name, "implementation_version": iv, "os_name": os.name,
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}))
"""


def marker_environment(python: str | Path) -> dict[str, str]:
    """The marker values (PEP 508) of the interpreter `python`, which the audit's environment is built on."""
    return dict(_marker_environment(str(Path(python).resolve())))


@functools.lru_cache(maxsize=8)
def _marker_environment(python: str) -> tuple[tuple[str, str], ...]:
    done = subprocess.run([python, "-I", "-S", "-c", _ENVIRONMENT_SCRIPT], capture_output=True, text=True, check=True)
    return tuple(sorted(json.loads(done.stdout).items()))
