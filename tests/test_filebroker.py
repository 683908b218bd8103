"""The embedded broker's messages appear whole (auditor/filebroker.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kombu import Connection

from auditor.filebroker import Transport


def test_a_message_is_renamed_into_the_queue_only_once_it_is_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen_at_rename: list[tuple[list[str], bytes]] = []
    rename = os.replace

    def watched(source: str, target: str) -> None:
        if str(source).endswith(".msg.partial"):
            # What a reader listing the queue would find just before the message appears: nothing it takes.
            takeable = [name for name in os.listdir(queue_folder) if name.endswith(".celery.msg")]
            seen_at_rename.append((takeable, Path(source).read_bytes()))
        rename(source, target)

    monkeypatch.setattr(os, "replace", watched)
    queue_folder, processed, control = tmp_path / "queue", tmp_path / "processed", tmp_path / "control"
    for folder in (queue_folder, processed, control):
        folder.mkdir()
    # Taken messages kept in a folder of the test's own (without, kombu moves them through tempfile.gettempdir()).
    options = {
        "data_folder_in": str(queue_folder),
        "data_folder_out": str(queue_folder),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": True,
    }
    with Connection(transport=Transport, transport_options=options) as connection:
        queue = connection.SimpleQueue("celery")
        queue.put({"task": "audit"})
        message = queue.get(timeout=5)
        message.ack()

    [(takeable, written)] = seen_at_rename
    assert takeable == []
    assert json.loads(written)["body"]  # the whole message was in the file before it was renamed
    assert message.payload == {"task": "audit"}
    assert os.listdir(queue_folder) == []  # taken, nothing partial left behind
    assert [name.endswith(".celery.msg") for name in os.listdir(processed)] == [True]
