"""What was installed is what was resolved, each file where its own distribution put it.

A wheel controls what lands in site-packages: through `<name>.data/purelib/` it can plant a `.dist-info` of another
name (which would then be probed, and its result stored, as that distribution: a public record poisoned), and two
wheels that ship the same path overwrite each other (the loser's probe would import the winner's code). Before
anything is probed, the installed distributions are checked against the resolution and their RECORDs: a planted
`.dist-info` is no distribution at all, and its carrier is an error; a distribution whose files another replaced,
or whose RECORD cannot be read, is an error too. Errors here are install errors: such a distribution is neither
probed nor stored.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from auditor.core.environments import MAX_RECORD_BYTES, AuditEnvironment, InstalledDistribution
from auditor.core.resolve import Resolution

_NOT_IMPORTED = ("bin/", "../")
_CODE = (".py", ".so", ".pyd", ".pth")


def intact_distributions(
    env: AuditEnvironment, distributions: Sequence[InstalledDistribution], pins: Mapping[str, str]
) -> tuple[list[InstalledDistribution], dict[str, str]]:
    """The distributions that are the resolution's own and intact, and, for the others, why not (name -> reason)."""
    own_dist_info = {d.dist_info for d in distributions}
    planted: dict[str, str] = {}  # .dist-info directory -> the distribution whose RECORD put it there
    for dist in distributions:
        for path in dist.files:
            top = path.split("/", 1)[0]
            if top.endswith(".dist-info") and top != dist.dist_info and top in own_dist_info:
                planted[top] = dist.name
    errors: dict[str, str] = {}
    for dist_info, carrier in sorted(planted.items()):
        errors[carrier] = f"it installs the metadata of another distribution ({dist_info}): refused"
    real = [d for d in distributions if d.dist_info not in planted and pins.get(d.name) is not None]
    for dist in real:
        if dist.record_error:
            errors[dist.name] = dist.record_error
    errors.update(_replaced(env, [d for d in real if d.name not in errors]))
    return [d for d in real if d.name not in errors], errors


def carried_origins(distributions: Sequence[InstalledDistribution], resolution: Resolution) -> dict[str, str]:
    """The origin of each distribution whose packages hold a module of another distribution that it does not require,
    directly or not: `carried:` and those carriers (`name==version`, sorted).

    A wheel may add a module to another's package (`victim/_speedups.py`, which the victim imports if it is there):
    its code then runs in the victim's probe and could make the victim's result anything, so that result holds only
    beside its carriers and is never the public one. A dependency's module there is the distribution's own choice
    (PyQt5-sip's `PyQt5/sip.so`), and a namespace package that several declare is shared by design."""
    versions = {d.name: d.version for d in distributions}
    packages: dict[str, set[str]] = defaultdict(set)  # package directory -> who ships its `__init__.py`
    for dist in distributions:
        for path in dist.files:
            if path.endswith("/__init__.py"):
                packages[path.rpartition("/")[0]].add(dist.name)
    required = {name: resolution.dependencies_of(name) for name in versions}
    carried: dict[str, set[str]] = defaultdict(set)
    for other in distributions:
        for path in other.module_files():
            parents = path.split("/")[:-1]
            for depth in range(1, len(parents) + 1):
                owners = packages.get("/".join(parents[:depth]), set())
                if other.name in owners:
                    continue  # its own package, or a namespace it declares too (shared, or an error: `_replaced`)
                for name in owners:
                    if other.name not in required[name]:
                        carried[name].add(other.name)
    origins = {}
    for name, carriers in carried.items():
        listed = ",".join(f"{carrier}=={versions[carrier]}" for carrier in sorted(carriers))
        # An origin is stored in 200 characters: a long list is named by its digest.
        origins[name] = "carried:" + (listed if len(listed) <= 150 else hashlib.sha256(listed.encode()).hexdigest())
    return origins


def _replaced(env: AuditEnvironment, distributions: Sequence[InstalledDistribution]) -> dict[str, str]:
    """The distributions that share an importable file with another: the owner whose copy is not the one on disk,
    or, for the same copy, both (who owns it decides whom a thread it starts is blamed on), unless it only declares
    a namespace package that several distributions share (pkgutil's and pkg_resources' `__init__.py`)."""
    owners: dict[str, list[InstalledDistribution]] = defaultdict(list)
    for dist in distributions:
        for path in dist.files:
            # Only code: scripts, licences and data of the same name change neither what a probe imports nor blame.
            if path.endswith(_CODE) and not path.startswith(_NOT_IMPORTED):
                owners[path].append(dist)
    shared = {path: dists for path, dists in owners.items() if len(dists) > 1}
    errors: dict[str, str] = {}
    for path, dists in sorted(shared.items()):
        on_disk = _digest(env.site_packages / path)
        replaced = [d for d in dists if _recorded_digest(env, d, path) != on_disk]
        for dist in replaced:
            others = ", ".join(sorted(d.name for d in dists if d is not dist))
            errors.setdefault(dist.name, f"its file {path} was replaced by another distribution's ({others})")
        if not replaced and not _declares_a_namespace(env.site_packages / path):
            for dist in dists:
                others = ", ".join(sorted(d.name for d in dists if d is not dist))
                errors.setdefault(dist.name, f"it ships {path}, which {others} ships too")
    return errors


def _declares_a_namespace(path: Path) -> bool:
    """An `__init__.py` that only makes a namespace package shared by several distributions, or is empty."""
    if path.name != "__init__.py":
        return False
    try:
        text = path.read_bytes()[:4096].decode(errors="replace")
    except OSError:
        return False
    code = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return not code or (len(code) <= 3 and ("extend_path" in text or "declare_namespace" in text))


def _digest(path: Path) -> str | None:
    try:
        digest = hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _recorded_digest(env: AuditEnvironment, dist: InstalledDistribution, path: str) -> str | None:
    record = env.site_packages / dist.dist_info / "RECORD"
    try:
        with record.open("rb") as f:
            rows = csv.reader(io.StringIO(f.read(MAX_RECORD_BYTES).decode(errors="replace")))
            return next((row[1] for row in rows if len(row) > 1 and row[0] == path), None)
    except (OSError, csv.Error):
        return None
