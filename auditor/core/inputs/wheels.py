"""Wheel files: checked before anything opens them for real (name, zip, members, sizes, metadata)."""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import parse_email
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from auditor.core.inputs.errors import BAD_CONTROL, InputError, excerpt


@dataclass(frozen=True)
class WheelInfo:
    """A validated wheel: canonical name, normalized version and its tags (sorted strings)."""

    path: Path
    name: str
    version: str
    tags: tuple[str, ...]


# One wheel: its file, its entries, what they unpack to (the sizes the zip declares: zipfile refuses a member whose
# data does not match its declared size, so nothing unpacks to more).
MAX_WHEEL_BYTES = 200 * 2**20
MAX_WHEEL_ENTRIES = 20_000
MAX_WHEEL_UNPACKED_BYTES = 1 * 2**30
# A set of wheels, all unpacked together into the audit's work directory, which may be in memory (/dev/shm): without
# these, a few MiB of wheels each within the limits above unpack to gigabytes.
MAX_WHEEL_SET_WHEELS = 1_000
MAX_WHEEL_SET_ENTRIES = 200_000
MAX_WHEEL_SET_UNPACKED_BYTES = 2 * 2**30
_MAX_METADATA_BYTES = 10 * 2**20
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,  # an encrypted member
    ValueError,
)


@dataclass(frozen=True)
class _Contents:
    """What a wheel unpacks to: its number of entries and their declared sizes in all."""

    entries: int
    unpacked_bytes: int


def validate_wheel(
    path: Path,
    *,
    max_bytes: int = MAX_WHEEL_BYTES,
    max_entries: int = MAX_WHEEL_ENTRIES,
    max_uncompressed: int = MAX_WHEEL_UNPACKED_BYTES,
) -> WheelInfo:
    """Check that `path` is a well-formed wheel within the limits, or raise `InputError` naming the file."""
    return _validate_wheel(path, max_bytes=max_bytes, max_entries=max_entries, max_uncompressed=max_uncompressed)[0]


def _validate_wheel(
    path: Path,
    *,
    max_bytes: int = MAX_WHEEL_BYTES,
    max_entries: int = MAX_WHEEL_ENTRIES,
    max_uncompressed: int = MAX_WHEEL_UNPACKED_BYTES,
) -> tuple[WheelInfo, _Contents]:
    """`validate_wheel`, and what the wheel unpacks to."""
    file = path.name
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError("cannot be read", file=file) from None
    if size > max_bytes:
        raise InputError(f"is larger than the limit of {max_bytes:,} bytes", file=file)
    try:
        name, version, _build, tags = parse_wheel_filename(file)
    except InvalidWheelFilename as exc:
        raise InputError(f"is not a valid wheel file name (PEP 427): {exc}", file=file) from None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > max_entries:
                raise InputError(f"has {len(members):,} entries; the limit is {max_entries:,}", file=file)
            contents = _Contents(entries=len(members), unpacked_bytes=sum(member.file_size for member in members))
            if contents.unpacked_bytes > max_uncompressed:
                raise InputError(
                    f"unpacks to {contents.unpacked_bytes:,} bytes, more than the limit of {max_uncompressed:,} bytes",
                    file=file,
                )
            names = _check_members(members, file)
            dist_info = _dist_info_directory(names, name, version, file)
            metadata = _read_member(archive, f"{dist_info}/METADATA", file)
            wheel = _read_member(archive, f"{dist_info}/WHEEL", file)
            if f"{dist_info}/RECORD" not in names:
                raise InputError(f"has no {dist_info}/RECORD", file=file)
    except InputError:
        raise
    except _ZIP_ERRORS as exc:
        raise InputError(f"is not a valid zip archive ({exc})", file=file) from None
    _check_metadata(metadata, wheel, name, version, file)
    info = WheelInfo(path=path, name=name, version=str(version), tags=tuple(sorted(str(tag) for tag in tags)))
    return info, contents


def validate_wheel_set(
    paths: Iterable[Path],
    *,
    max_wheels: int = MAX_WHEEL_SET_WHEELS,
    max_set_entries: int = MAX_WHEEL_SET_ENTRIES,
    max_set_uncompressed: int = MAX_WHEEL_SET_UNPACKED_BYTES,
    **limits: int,
) -> tuple[WheelInfo, ...]:
    """Validate each wheel (`limits` as in `validate_wheel`) and the set within its own limits: at most `max_wheels`
    wheels, `max_set_entries` entries and `max_set_uncompressed` unpacked bytes in all. Refuse an empty set and two
    wheels of one name. Raises `InputError`."""
    files = list(paths)
    if len(files) > max_wheels:  # before opening any of them
        raise InputError(f"{len(files):,} wheels given, more than the limit of {max_wheels:,}")
    wheels: dict[str, WheelInfo] = {}
    entries = unpacked_bytes = 0
    for path in files:
        info, contents = _validate_wheel(path, **limits)
        if info.name in wheels:
            raise InputError(
                f"two wheels of {info.name}: {wheels[info.name].path.name} and {path.name}", file=path.name
            )
        wheels[info.name] = info
        entries += contents.entries
        unpacked_bytes += contents.unpacked_bytes
    if not wheels:
        raise InputError("no wheels given")
    if entries > max_set_entries:
        raise InputError(f"the wheels have {entries:,} entries in all, more than the limit of {max_set_entries:,}")
    if unpacked_bytes > max_set_uncompressed:
        raise InputError(
            f"the wheels unpack to {unpacked_bytes:,} bytes, more than the limit of {max_set_uncompressed:,} bytes"
        )
    return tuple(wheels.values())


def _check_members(members: list[zipfile.ZipInfo], file: str) -> set[str]:
    names: set[str] = set()
    for member in members:
        member_name = member.filename
        parts = member_name.rstrip("/").split("/")
        if (
            member_name.startswith("/")
            or "\\" in member_name
            or re.match(r"^[A-Za-z]:", member_name)
            or ".." in parts
            or "" in parts
            or BAD_CONTROL.search(member_name)
            or "\x00" in member_name
        ):
            raise InputError(f"contains an unsafe member path {excerpt(member_name)}", file=file)
        if stat.S_ISLNK(member.external_attr >> 16):
            raise InputError(f"contains a symbolic link {excerpt(member_name)}", file=file)
        if member_name in names:
            raise InputError(f"contains the member {excerpt(member_name)} twice", file=file)
        names.add(member_name)
    return names


def _dist_info_directory(names: set[str], name: str, version: Version, file: str) -> str:
    directories = sorted({n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")})
    if not directories:
        raise InputError("has no .dist-info directory", file=file)
    if len(directories) > 1:
        raise InputError(f"has more than one .dist-info directory: {', '.join(directories)}", file=file)
    directory = directories[0]
    dir_name, _, dir_version = directory.removesuffix(".dist-info").rpartition("-")
    if canonicalize_name(dir_name) != name or _version(dir_version) != version:
        raise InputError(f"{directory} does not match the file name ({name} {version})", file=file)
    return directory


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _read_member(archive: zipfile.ZipFile, member: str, file: str) -> bytes:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise InputError(f"has no {member}", file=file) from None
    if info.file_size > _MAX_METADATA_BYTES:
        raise InputError(f"{member} is larger than {_MAX_METADATA_BYTES:,} bytes", file=file)
    return archive.read(info)


def _check_metadata(metadata: bytes, wheel: bytes, name: str, version: Version, file: str) -> None:
    raw, _ = parse_email(metadata)
    if "name" not in raw or "version" not in raw:
        raise InputError("METADATA lacks a Name or Version", file=file)
    if canonicalize_name(raw["name"]) != name or _version(raw["version"]) != version:
        found = f"{raw['name']} {raw['version']}"
        raise InputError(f"METADATA names {excerpt(found)}, but the file name says {name} {version}", file=file)
    wheel_version = _wheel_version(wheel)
    if wheel_version is None or wheel_version.major != 1:
        raise InputError("WHEEL lacks a supported Wheel-Version (1.x)", file=file)


def _wheel_version(wheel: bytes) -> Version | None:
    text = wheel.decode("utf-8", "replace")
    found = re.search(r"^Wheel-Version:\s*(\S+)\s*$", text, re.MULTILINE)
    return _version(found.group(1)) if found else None
