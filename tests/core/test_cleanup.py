"""Work directories are moved aside at once and deleted in the background."""

from __future__ import annotations

import time
from pathlib import Path

from auditor.core.cleanup import SUFFIX, discard, sweep, wait_for_deletions


def a_tree(root: Path, files: int = 200) -> Path:
    for index in range(files):
        path = root / "env" / f"pkg{index % 7}" / f"module{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    return root


def wait_for_rm(parent: Path, *, leaving: list[Path]) -> list[Path]:
    """What is in `parent` once only `leaving` is left, or after 30 s."""
    deadline = time.monotonic() + 30
    while (left := sorted(parent.iterdir())) != leaving and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_discard_takes_the_directory_away_at_once_and_deletes_it(tmp_path):
    work = a_tree(tmp_path / "work" / "audit1")

    discard(work)

    assert not work.exists()
    assert wait_for_rm(tmp_path / "work", leaving=[]) == []


def test_discard_of_a_missing_directory_does_nothing(tmp_path):
    discard(tmp_path / "never-made")

    assert list(tmp_path.iterdir()) == []


def test_discard_leaves_the_directory_s_neighbours_alone(tmp_path):
    work = tmp_path / "work"
    a_tree(work / "audit1")
    neighbour = a_tree(work / "audit2")

    discard(work / "audit1")

    assert wait_for_rm(work, leaving=[neighbour]) == [neighbour]
    assert len(list(neighbour.rglob("*.py"))) == 200


def test_sweep_deletes_what_an_interrupted_discard_left_and_nothing_else(tmp_path):
    work = tmp_path / "work"
    a_tree(work / f"audit1.0badf00d{SUFFIX}")
    running = a_tree(work / "audit2")

    sweep(work)

    assert wait_for_rm(work, leaving=[running]) == [running]
    assert len(list(running.rglob("*.py"))) == 200


def test_sweep_of_a_missing_directory_does_nothing(tmp_path):
    sweep(tmp_path / "never-made")

    assert list(tmp_path.iterdir()) == []


def test_wait_for_deletions_returns_once_they_are_done(tmp_path):
    work = a_tree(tmp_path / "work" / "audit1", files=2000)
    discard(work)

    wait_for_deletions(timeout=60)

    assert list((tmp_path / "work").iterdir()) == []
