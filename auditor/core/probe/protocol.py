"""What the bootstrap may say on its result pipe, checked before anything believes it.

The bootstrap shares its interpreter with the package, so every line may be forged or nonsense: deeply nested JSON, a
string where a number belongs, two final reports. Nothing here calls a method of what was parsed beyond the JSON
types' own; anything that does not fit the shape below is a `ProtocolError`, which makes the probe an `error` ("could
not tell"), never a crash of the audit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_EVENTS = 100_000  # lines on the result pipe: begin and module events of a deep probe, and one report
MAX_RECORDS = 20_000  # entries of each list of the final report
MAX_FRAMES = 64


class ProtocolError(ValueError):
    """The probe's output is not what the bootstrap writes: forged, or broken by the package."""


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _optional_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_integer(value: Any) -> bool:
    return value is None or _integer(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _stack(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= MAX_FRAMES
        and all(
            isinstance(frame, list) and len(frame) == 3 and _text(frame[0]) and _integer(frame[1]) and _text(frame[2])
            for frame in value
        )
    )


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(_text(item) for item in value)


Check = Callable[[Any], bool]
# Where it happened: the module loading, its file, and the module the probe asked to import (whose import it is).
_WHERE: dict[str, Check] = {"module": _optional_text, "origin": _optional_text, "importing": _optional_text}
_RECORDS: dict[str, dict[str, Check]] = {
    "threads": {
        **_WHERE,
        "api": _text,
        "name": _text,
        "daemon": _flag,
        "stack": _stack,
        "native_id": _optional_integer,
        "alive": _flag,
    },
    "native_threads": {**_WHERE, "tid": _integer, "name": _optional_text, "alive": _flag},
    "transient_native": {**_WHERE, "count": _integer},
    "spawns": {**_WHERE, "event": _text, "command": _text, "stack": _stack},
    "processes": {"pid": _integer, "command": _text},
    "sockets": {**_WHERE, "family": _text, "address": _optional_text, "stack": _stack, "open": _flag},
    "atfork": {**_WHERE, "hooks": _texts, "stack": _stack},
}
_EVENTS: dict[str, dict[str, Check]] = {
    "begin": {"module": _text},
    "module": {"module": _text, "status": _text, "seconds": _number, "error": _optional_text},
    "settle": {},
    "done": {
        "python": _text,
        "loaded": lambda value: _texts(value) and len(value) <= MAX_RECORDS,
        **{key: lambda value: isinstance(value, list) for key in _RECORDS},
    },
}


def _fork_trial(value: Any) -> bool:
    """The optional fork trial of a final report."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("before"), list)
        and len(value["before"]) <= MAX_RECORDS
        and all(
            isinstance(t, dict) and _integer(t.get("tid")) and _optional_text(t.get("name")) for t in value["before"]
        )
        and isinstance(value.get("stopped"), list)
        and all(_integer(tid) for tid in value["stopped"])
        and _text(value.get("child"))
        and _number(value.get("seconds"))
    )


def parse_events(data: bytes) -> list[dict[str, Any]]:
    """The events of a probe's result pipe, each checked; ProtocolError for anything else, or for more than one
    final report."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    if len(lines) > MAX_EVENTS:
        raise ProtocolError(f"more than {MAX_EVENTS} events")
    events = [_event(line) for line in lines if line.strip()]
    if sum(1 for event in events if event["event"] == "done") > 1:
        raise ProtocolError("more than one final report")
    return events


def _event(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"a line that is not JSON ({type(exc).__name__})") from None
    if not isinstance(event, dict) or event.get("event") not in _EVENTS:
        raise ProtocolError("a line that is not one of the bootstrap's events")
    _check(event, _EVENTS[event["event"]], event["event"])
    if event["event"] == "done":
        if "fork" in event and not _fork_trial(event["fork"]):
            raise ProtocolError("done: a malformed 'fork' trial")
        for key, fields in _RECORDS.items():
            records = event[key]
            if len(records) > MAX_RECORDS:
                raise ProtocolError(f"more than {MAX_RECORDS} {key} in the final report")
            for record in records:
                if not isinstance(record, dict):
                    raise ProtocolError(f"{key}: an entry that is not an object")
                _check(record, fields, key)
    return event


def _check(record: dict[str, Any], fields: dict[str, Check], what: str) -> None:
    for key, check in fields.items():
        if key not in record or not check(record[key]):
            raise ProtocolError(f"{what}: a missing or malformed {key!r}")
