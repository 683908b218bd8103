"""Resolution with uv: exact pins for the whole transitive set, and the dependency graph (`requirer → required`)."""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from auditor.core.uv import UvError, find_links_args, run_uv

MAX_PATHS = 5


class ResolutionError(ValueError):
    """The requirements cannot be resolved (unknown package, no wheel, conflict); the message is uv's reason (the
    pipeline reads it), `readable` says it for people."""

    @property
    def readable(self) -> str:
        return explain(str(self))


_NAME = r"(?P<name>[A-Za-z0-9][\w.\-]*)(?:\[[^\]]*\])?"  # a requirement's name, its extras left out
_NOT_FOUND = re.compile(r"\b" + _NAME + r" was not found in the (?P<where>package registry|provided package locations)")
_NO_VERSION = re.compile(r"there is no version of " + _NAME + r"(?P<spec>[=<>!~][^\s,]*)")
_NO_WHEEL = re.compile(r"(?P<name>[A-Za-z0-9][\w.\-]*)(?P<spec>==[^\s,]+)? has no usable wheels")
_UNREACHABLE = re.compile(r"Failed to fetch: `?(?P<url>[^`\s]+)`?")
_UV_LINE = re.compile(r"^(?:\s|error:|cause:|hint:|Caused by:|×|╰|│)")  # uv's own lines; others are forkaudit's
_HEADER = re.compile(r"^\s*(?:error|×):\s*No solution found when resolving dependencies:?\s*$", re.I)


def explain(uv_text: str) -> str:
    """uv's reason as a person would say it: `nosuchpackage is not on the package index`, `numpy==0.0.1 is not on
    the package index (no such version)`, `the package index cannot be reached (https://…)`; otherwise uv's own
    explanation without its headings, on one line."""
    said: list[str] = []
    for found in _NOT_FOUND.finditer(uv_text):
        where = "the package index" if found["where"] == "package registry" else "the given wheels and links"
        said.append(f"{found['name']} is not on {where}")
    for found in _NO_VERSION.finditer(uv_text):
        said.append(f"{found['name']}{found['spec']} is not on the package index (no such version)")
    for found in _NO_WHEEL.finditer(uv_text):
        spec = found["spec"] or ""
        said.append(f"{found['name']}{spec} has no usable wheel for this Python and platform")
    unreachable = _UNREACHABLE.search(uv_text)
    if unreachable and not said:
        url = re.sub(r"//[^/@\s]*@", "//", unreachable["url"]).rstrip("/")  # never an index's credentials
        said.append(f"the package index cannot be reached ({url})")
    if said:  # and what forkaudit added to uv's answer (why a source distribution could not be built)
        ours = [line.strip() for line in uv_text.splitlines() if line.strip() and not _UV_LINE.match(line)]
        return "; ".join(dict.fromkeys(said + [line for line in ours if not line.startswith("Because ")]))
    lines = [line.strip() for line in uv_text.splitlines() if line.strip() and not _HEADER.match(line)]
    text = " ".join(line.removeprefix("cause:").removeprefix("Caused by:").strip() for line in lines)
    return text or uv_text


@dataclass(frozen=True)
class Resolution:
    pins: dict[str, str]  # canonical name -> version
    edges: frozenset[tuple[str, str]]  # (requirer, required)
    direct: frozenset[str]
    sources: frozenset[str] = frozenset()  # pins built from their source distribution (no usable wheel)
    build_errors: Mapping[str, str] = field(default_factory=dict)  # pins that could not be built -> why

    def paths_to(self, name: str) -> list[tuple[str, ...]]:
        """Shortest paths from each direct requirement down to `name` (`("pandas", "numpy")`), at most MAX_PATHS."""
        required_by: dict[str, list[str]] = {}
        for requirer, required in sorted(self.edges):
            required_by.setdefault(requirer, []).append(required)
        paths = []
        for start in sorted(self.direct):
            path = _shortest_path(required_by, start, name)
            if path:
                paths.append(path)
        paths.sort(key=len)
        return paths[:MAX_PATHS]

    def dependencies_of(self, name: str) -> set[str]:
        """Everything `name` requires, directly or not."""
        required_by: dict[str, list[str]] = {}
        for requirer, required in self.edges:
            required_by.setdefault(requirer, []).append(required)
        found, frontier = set(), [name]
        while frontier:
            for required in required_by.get(frontier.pop(), ()):
                if required not in found:
                    found.add(required)
                    frontier.append(required)
        return found

    def to_dict(self) -> dict:
        return {
            "direct": sorted(self.direct),
            "edges": sorted(map(list, self.edges)),
            "pins": dict(sorted(self.pins.items())),
            "sources": sorted(self.sources),
            "build_errors": dict(sorted(self.build_errors.items())),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Resolution:
        return cls(
            pins=dict(data["pins"]),
            edges=frozenset((a, b) for a, b in data["edges"]),
            direct=frozenset(data["direct"]),
            sources=frozenset(data.get("sources", ())),
            build_errors=dict(data.get("build_errors", {})),
        )


def _shortest_path(required_by: dict[str, list[str]], start: str, goal: str) -> tuple[str, ...] | None:
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            current: str | None = node
            while current is not None:
                path.append(current)
                current = previous[current]
            return tuple(reversed(path))
        for nxt in required_by.get(node, ()):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def resolve(
    requirements: Sequence[str],
    *,
    python: Path,
    constraints: Sequence[str] = (),
    find_links: Sequence[Path] = (),
    use_index: bool = True,
    prereleases: bool = False,
    workdir: Path,
) -> Resolution:
    """Resolve `requirements` for the interpreter `python` (its version and platform decide the markers), from wheels
    only: a source distribution's metadata would take a build, which runs code (auditor.core.builds does that, in
    the sandbox, for what uv names as lacking a wheel)."""
    args = ["pip", "compile", "-", "--python", str(python), "--no-header", "--annotation-style", "line", "--quiet"]
    args += ["--only-binary", ":all:"]
    if not use_index:
        args.append("--no-index")
    if prereleases:
        args += ["--prerelease", "allow"]
    args += find_links_args(find_links)
    if constraints:
        constraints_file = workdir / "constraints.txt"
        constraints_file.write_text("\n".join(constraints) + "\n")
        args += ["--constraint", str(constraints_file)]
    stdin = "\n".join(requirements) + "\n"
    names = {name for r in requirements if (name := _name(r))}
    if use_index and not find_links and _is_lock(requirements):
        # A lock (every line pins one version of a package from the index) resolves to itself, and a release's
        # dependencies never change: uv's cache can answer without asking the index again (round trips were
        # most of a repeated audit). Its answer counts only if it pins nothing the lock does not; anything missing
        # from the cache, or a lock that is not whole, is resolved with the index as usual.
        with contextlib.suppress(UvError):
            pins, edges = parse_compiled(run_uv([*args, "--offline"], stdin=stdin))
            if set(pins) <= names:
                return Resolution(pins=pins, edges=frozenset(edges), direct=frozenset(names & set(pins)))
    try:
        output = run_uv(args, stdin=stdin)
    except UvError as exc:
        raise ResolutionError(str(exc)) from exc
    pins, edges = parse_compiled(output)
    return Resolution(pins=pins, edges=frozenset(edges), direct=frozenset(names & set(pins)))


def _is_lock(requirements: Sequence[str]) -> bool:
    """Every line names one exact version of a package (`name==1.2.3`, maybe with extras and markers)."""
    return bool(lock_pins(requirements))


def lock_pins(requirements: Sequence[str]) -> dict[str, str]:
    """Name -> version of each line if every line names one exact version of a package, else {}."""
    pins: dict[str, str] = {}
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            return {}  # an option line (--index-url ...)
        specifiers = list(requirement.specifier)
        if requirement.url or len(specifiers) != 1 or specifiers[0].operator not in ("==", "===") or "*" in line:
            return {}
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


def _name(requirement: str) -> str | None:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return None  # an option line (--index-url ...) that the operator allowed


def parse_compiled(output: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Pins and edges from `uv pip compile --annotation-style line` output (`name==1.0  # via a, b`)."""
    pins: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in output.splitlines():
        spec, _, comment = line.partition("#")
        spec = spec.strip()
        if not spec or spec.startswith("-"):
            continue
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            continue
        pinned = [s.version for s in requirement.specifier if s.operator == "=="]
        if not pinned:
            continue
        name = canonicalize_name(requirement.name)
        pins[name] = pinned[0]
        via = comment.strip().removeprefix("via").strip()
        for requirer in via.split(","):
            requirer = requirer.strip()
            if requirer and not requirer.startswith("-"):
                edges.add((canonicalize_name(requirer.split("[")[0]), name))
    return pins, edges
