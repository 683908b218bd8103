"""Source distributions: which ones an audit needs, and getting their archives (a network step: no code runs).

uv resolves and installs binary wheels only, so that it never runs a build backend on the host. When a package has
no usable wheel, uv says so (`Wheels are required for `fysom``): those packages' source distributions are fetched
here, from the audit's own directories or the package index's simple API (PEP 691), checked against the index's
hash, and built in the sandbox (auditor.core.builds).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import compatible_tags, cpython_tags, platform_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from auditor.core.background import ThreadPool

MAX_SDIST_BYTES = 200 * 2**20
DEFAULT_INDEX = "https://pypi.org/simple"
_WHEELS_REQUIRED = re.compile(r"Wheels are required for `([^`]+)`")
# `fysom==2.1.5 has no usable wheels`, `psycopg-c{implementation_name != 'pypy'}==3.3.5 has ...` (a marker), `x[a]==1`
_NO_WHEELS = re.compile(
    r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\{[^}]*\}|\[[^\]]*\])*==([^\s,]+) (?:has|have) no usable wheels"
)


class SourceUnavailable(Exception):
    """No source distribution of the package could be fetched; the message says why."""


@dataclass(frozen=True)
class Sdist:
    name: str  # canonical
    version: str
    path: Path


def sources_needed(uv_error: str) -> dict[str, str | None]:
    """The packages uv could not resolve for want of a wheel (canonical name -> the exact version it named, if any),
    from the text of its failed resolution."""
    exact = {canonicalize_name(name): version for name, version in _NO_WHEELS.findall(uv_error)}
    return {canonicalize_name(name): exact.get(canonicalize_name(name)) for name in _WHEELS_REQUIRED.findall(uv_error)}


def fetch_sdist(
    name: str,
    version: str | None,
    *,
    directories: Sequence[Path],
    use_index: bool,
    dest: Path,
    python_version: str,
) -> Sdist | None:
    """The source distribution of `name` (`version`, or the newest), copied into `dest`: from `directories` first,
    then the index. None when the index has a usable wheel of the newest version (uv left that version out for
    another reason: building it would change nothing). Raises SourceUnavailable."""
    for directory in directories:
        for path in sorted(directory.glob("*")):
            found = _sdist_name(path.name)
            if found and found[0] == name and (version is None or found[1] == version):
                if path.stat().st_size > MAX_SDIST_BYTES:
                    raise SourceUnavailable(f"{path.name} is larger than {MAX_SDIST_BYTES // 2**20} MiB")
                dest.mkdir(parents=True, exist_ok=True)
                return Sdist(name, found[1], Path(shutil.copy2(path, dest / path.name)))
    if not use_index:
        raise SourceUnavailable(f"{name} has no usable wheel and no source distribution in the given directories")
    return _from_index(name, version, dest=dest, python_version=python_version)


def index_url() -> str:
    """The index uv uses (the operator's UV_INDEX_URL or UV_DEFAULT_INDEX), else PyPI."""
    return (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def without_usable_wheels(pins: Mapping[str, str], *, python_version: str, jobs: int = 8) -> dict[str, str]:
    """The pins whose exact version has no usable wheel on the index, but a source distribution: all of them at once
    (uv names one per failed resolution), for a lock, whose versions are all known."""

    def lacks_wheel(name: str, version: str) -> bool:
        try:
            files = _index_files(name)
        except SourceUnavailable:
            return False  # uv will say what is wrong with it
        has_sdist = any(_sdist_name(str(f.get("filename", ""))) == (name, version) for f in files)
        return has_sdist and not _has_usable_wheel(files, name, version, python_version)

    with ThreadPool(max_workers=jobs) as pool:  # each page is a round trip to the index
        lacking = dict(zip(pins, pool.map(lambda pin: lacks_wheel(*pin), pins.items()), strict=True))
    return {name: pins[name] for name, lacks in lacking.items() if lacks}


def _index_files(name: str) -> list[dict]:
    """The files of `name`'s project page on the index (PEP 691 JSON), yanked ones left out."""
    url = f"{index_url()}/{name}/"
    try:
        request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.loads(response.read(20 * 2**20))
    except (OSError, ValueError) as exc:
        raise SourceUnavailable(f"could not read {url}: {exc}") from exc
    files = page.get("files", []) if isinstance(page, dict) else []
    if not isinstance(files, list):
        raise SourceUnavailable(f"{url} is not a project page of the simple API")
    listed = [{**f, "url": urllib.parse.urljoin(url, str(f.get("url", "")))} for f in files if _listed(f)]
    # Only what the index serves, over HTTP(S), with its sha256: no other scheme, nothing unverified.
    return [f for f in listed if f["url"].startswith(("https://", "http://")) and _sha256(f)]


def _sha256(file: dict) -> str | None:
    hashes = file.get("hashes")
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    return value if isinstance(value, str) else None


def _listed(file: object) -> bool:
    return isinstance(file, dict) and not file.get("yanked")


def _from_index(name: str, version: str | None, *, dest: Path, python_version: str) -> Sdist | None:
    files = _index_files(name)
    sdists = {}
    for file in files:
        found = _sdist_name(str(file.get("filename", "")))
        if found and found[0] == name:
            sdists[found[1]] = file
    if not sdists:
        raise SourceUnavailable(f"{name} has neither a usable wheel nor a source distribution on {index_url()}")
    if version is None:
        version = max(sdists, key=_sort_key)
        if _has_usable_wheel(files, name, version, python_version):
            return None
    chosen = sdists.get(version)
    if chosen is None:
        raise SourceUnavailable(f"{name} {version} has neither a usable wheel nor a source distribution")
    return Sdist(name, version, _download(chosen["url"], chosen, dest))


def _download(url: str, file: dict, dest: Path) -> Path:
    expected = _sha256(file)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / os.path.basename(str(file["filename"]))
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=120) as response, target.open("wb") as out:
            size = 0
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > MAX_SDIST_BYTES:
                    raise SourceUnavailable(f"{target.name} is larger than {MAX_SDIST_BYTES // 2**20} MiB")
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise SourceUnavailable(f"could not download {target.name}: {exc}") from exc
    if digest.hexdigest() != expected:
        raise SourceUnavailable(f"{target.name} does not match the index's sha256")
    return target


def _sdist_name(filename: str) -> tuple[str, str] | None:
    if not filename.endswith((".tar.gz", ".zip")):
        return None
    try:
        name, version = parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidVersion):
        return None
    return canonicalize_name(name), str(version)


def _sort_key(version: str) -> tuple[bool, Version | None]:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return (False, None)
    return (not parsed.is_prerelease, parsed)


def _has_usable_wheel(files: list[dict], name: str, version: str, python_version: str) -> bool:
    major, minor = (int(part) for part in python_version.split(".")[:2])
    platforms = list(platform_tags())
    usable = {*cpython_tags((major, minor), platforms=platforms), *compatible_tags((major, minor), platforms=platforms)}
    for file in files:
        try:
            wheel_name, wheel_version, _, tags = parse_wheel_filename(str(file.get("filename", "")))
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if canonicalize_name(wheel_name) == name and str(wheel_version) == version and not usable.isdisjoint(tags):
            return True
    return False
