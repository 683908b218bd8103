"""Public probe results as a dataset: versioned JSON Lines that another installation imports.

The first line is a header, `{"format": "forkaudit-dataset/1", "producer": {...}}`; every other line is one stored
result of one distribution version: its key (name, version, wheel tag, Python, platform, probe version, depth), its
verdict, when it was probed, and the whole result (modules, findings with their mitigations, static findings,
sandbox and limits). Only public results are exported: a result of an uploaded wheel, or of a distribution that
required one, has a private origin and never leaves the database. An import refuses the whole file at its first bad
line and stores nothing; what the database already has under a key is kept.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from importlib import metadata
from typing import IO, Any

from django.db import transaction
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.core.cache import ProbeKey
from auditor.core.findings import FINDING_TYPES, ProbeResult, Verdict
from auditor.core.probe import PROBE_VERSION
from auditor.models import INDEX_ORIGIN, ProbeRecord
from auditor.selectors import package_search
from auditor.services import probe_records_add

FORMAT = "forkaudit-dataset/1"
MAX_LINE_BYTES = 16 * 1024 * 1024  # as much as the runner accepts from one probe
_BATCH = 500

_KEY_FIELDS = [field.name for field in dataclasses.fields(ProbeKey) if field.name != "origin"]
_TEXT_WIDTHS = {name: ProbeRecord._meta.get_field(name).max_length for name in _KEY_FIELDS if name != "deep"}
_FIELDS = {*_KEY_FIELDS, "verdict", "created", "result"}
_FINDING_COLUMNS = {
    "module": str | None,
    "thread": str | None,
    "native": bool | None,
    "alive_after_import": bool | None,
    "open_after_import": bool | None,
}


class DatasetError(ValueError):
    """A line that cannot be imported; nothing of the file is."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclasses.dataclass(frozen=True)
class ImportSummary:
    imported: int  # new records
    kept: int  # lines whose key the database already had (or an earlier line of the file)


def header() -> dict[str, Any]:
    try:
        version = metadata.version("forkaudit")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        version = "unknown"
    return {"format": FORMAT, "producer": {"forkaudit": version, "probe_version": PROBE_VERSION}}


def export_dataset(out: IO[str]) -> int:
    """Write the header and every public result to `out`, ordered by key; returns the number of results."""
    out.write(_json_line(header()))
    count = 0
    public = package_search()  # what an anonymous visitor sees outside local mode: the index's results only
    # With the stored result, which package_search leaves out: it is what a line holds.
    for record in public.select_related(None).defer(None).order_by(*_KEY_FIELDS).iterator(chunk_size=_BATCH):
        out.write(_json_line(_record_line(record)))
        count += 1
    return count


def _record_line(record: ProbeRecord) -> dict[str, Any]:
    line = {name: getattr(record, name) for name in _KEY_FIELDS}
    line.update(verdict=record.verdict, created=record.created.isoformat(), result=record.result)
    return line


def _json_line(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def import_dataset(stream: IO[bytes]) -> ImportSummary:
    """Store every result of a dataset (a binary stream) that the database does not have, in one transaction.

    Raises DatasetError at the first bad line, with nothing stored. Errors reading `stream` (a broken gzip member)
    propagate, with nothing stored either. A header may come again later: datasets joined with `cat` import.
    """
    records = imported = 0
    has_header = False
    batch: list[tuple[ProbeKey, ProbeResult, str, datetime]] = []
    with transaction.atomic():
        for number, data in _objects(stream):
            if "format" in data:
                _check_header(number, data)
                has_header = True
                continue
            if not has_header:
                raise DatasetError(number, f"no header line before it: a dataset starts with {_HEADER_HINT}")
            batch.append(_entry(number, data))
            records += 1
            if len(batch) == _BATCH:
                imported += probe_records_add(entries=batch)
                batch = []
        if not has_header:
            raise DatasetError(1, f"empty: a dataset starts with {_HEADER_HINT}")
        imported += probe_records_add(entries=batch)
    return ImportSummary(imported=imported, kept=records - imported)


_HEADER_HINT = f'a header line {{"format": "{FORMAT}", ...}}'


def _objects(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for every line that is not blank."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise DatasetError(number, f"longer than the limit of {MAX_LINE_BYTES:,} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DatasetError(number, "not UTF-8 text") from None
        if not text.strip():
            continue
        try:
            data = json.loads(text.rstrip("\r\n"))  # so that a column past the end is the line's own
        except json.JSONDecodeError as exc:
            raise DatasetError(number, f"not JSON: {exc.msg} at column {exc.pos + 1}") from None
        if not isinstance(data, dict):
            raise DatasetError(number, f"not a JSON object but {_json_type(data)}")
        yield number, data


def _check_header(number: int, data: dict[str, Any]) -> None:
    if data["format"] != FORMAT:
        raise DatasetError(number, f"unknown format version {data['format']!r}: this forkaudit reads {FORMAT!r} only")


def _entry(number: int, data: dict[str, Any]) -> tuple[ProbeKey, ProbeResult, str, datetime]:
    """The key, result, verdict and time of probing of one result line; DatasetError if it is not one."""

    refuse = functools.partial(DatasetError, number)
    missing = sorted(_FIELDS - data.keys())
    if missing:
        raise refuse(f"missing {_names(missing)}")
    unknown = sorted(data.keys() - _FIELDS)
    if unknown:
        raise refuse(f"unknown {_names(unknown)} (not in {FORMAT})")
    for name, width in _TEXT_WIDTHS.items():
        value = data[name]
        if not isinstance(value, str) or not value.strip():
            raise refuse(f"{name!r} must be a non-empty string, not {_json_type(value)}")
        if len(value) > width or not value.isprintable():
            raise refuse(f"{name!r} must be at most {width} printable characters")
    if not isinstance(data["deep"], bool):
        raise refuse(f"'deep' must be true or false, not {_json_type(data['deep'])}")
    if data["verdict"] not in {verdict.value for verdict in Verdict}:
        raise refuse(f"unknown verdict {data['verdict']!r} (one of {', '.join(v.value for v in Verdict)})")
    created = _aware_time(data["created"])
    if created is None:
        raise refuse("'created' must be an ISO 8601 time with its time zone")
    key = ProbeKey(**{name: data[name] for name in _KEY_FIELDS}, origin=INDEX_ORIGIN)
    return key, _result(data["result"], key, refuse), data["verdict"], created


def _result(data: Any, key: ProbeKey, refuse: Callable[[str], DatasetError]) -> ProbeResult:
    if not isinstance(data, dict):
        raise refuse(f"'result' must be an object, not {_json_type(data)}")
    findings = data.get("findings")
    if isinstance(findings, list):
        for finding in findings:
            kind = finding.get("kind") if isinstance(finding, dict) else None
            if kind not in FINDING_TYPES:
                raise refuse(f"'result' has a finding of unknown kind {kind!r}")
            for column, kinds in _FINDING_COLUMNS.items():  # what the database's finding columns are made of
                if not isinstance(finding.get(column), kinds):
                    raise refuse(f"'result' has a {kind} finding whose {column!r} is {_json_type(finding[column])}")
    try:
        result = ProbeResult.from_dict(data)
        result.to_dict()
    except KeyError as exc:
        raise refuse(f"'result' lacks {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise refuse(f"'result' is not a probe result: {exc}") from None
    if not isinstance(result.distribution, str) or canonicalize_name(result.distribution) != canonicalize_name(
        key.name
    ):
        raise refuse(f"'result' is of distribution {result.distribution!r}, the line says {key.name!r}")
    if _normal_version(result.version) != _normal_version(key.version):
        raise refuse(f"'result' is of version {result.version!r}, the line says {key.version!r}")
    return result


def _aware_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _normal_version(version: Any) -> Any:
    try:
        return Version(version)
    except (InvalidVersion, TypeError):
        return version


def _names(names: list[str]) -> str:
    return ("field " if len(names) == 1 else "fields ") + ", ".join(repr(name) for name in names)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
