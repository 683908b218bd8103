"""The embedded broker's messages appear whole (auditor/filebroker.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kombu import Connection

from auditor.filebroker import Transport


def test_a_message_is_renamed_into_the_queue_only_once_it_is_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    queue_folder, control = tmp_path / "queue", tmp_path / "control"
    for folder in (queue_folder, control):
        folder.mkdir()
    seen_at_rename: list[tuple[list[str], bytes]] = []
    rename = os.replace

    def watched(source: str, target: str) -> None:
        # What a reader listing the queue would find just before the message appears: nothing it takes.
        takeable = [name for name in os.listdir(queue_folder) if name.endswith(".celery.msg")]
        seen_at_rename.append((takeable, Path(source).read_bytes()))
        rename(source, target)

    options = {
        "data_folder_in": str(queue_folder),
        "data_folder_out": str(queue_folder),
        "control_folder": str(control),
    }
    with Connection(transport=Transport, transport_options=options) as connection:
        channel = connection.default_channel
        monkeypatch.setattr(os, "replace", watched)
        channel._put("celery", {"task": "audit"})

    [(takeable, written)] = seen_at_rename
    assert takeable == []
    assert json.loads(written) == {"task": "audit"}  # the whole message was in the file before it was renamed
    [name] = os.listdir(queue_folder)  # then under the name readers take, nothing partial left behind
    assert name.endswith(".celery.msg")
    assert json.loads((queue_folder / name).read_bytes()) == {"task": "audit"}
