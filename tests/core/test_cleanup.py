"""Work directories are moved aside at once and deleted in the background."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.core.cleanup import SUFFIX, discard, in_use, sweep, wait_for_deletions


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


HOLD_AND_WAIT = """
import sys, time
from pathlib import Path
from auditor.core.cleanup import in_use
with in_use(Path(sys.argv[1])) as path:
    (path / "env").mkdir()
    print("holding", flush=True)
    time.sleep(600)
"""


def a_process_working_in(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, str(path)], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    assert process.stdout is not None and process.stdout.readline() == "holding\n"
    return process


def test_sweep_leaves_a_directory_in_use_alone_and_deletes_it_once_its_process_is_killed(tmp_path):
    work = tmp_path / "work"
    owner = a_process_working_in(work / "audit1")
    try:
        sweep(work)
        time.sleep(0.5)  # what a deletion started by mistake would have done by now
        assert (work / "audit1" / "env").is_dir()
    finally:
        owner.kill()
        owner.communicate()

    sweep(work)  # the next audit's

    assert wait_for_rm(work, leaving=[]) == []


def test_sweep_leaves_directories_it_did_not_make_alone(tmp_path):
    # The service's audits outlive any one process: their directories carry no lock, and are their owners' to delete.
    work = tmp_path / "work"
    service_audit = a_tree(work / "audit1")

    sweep(work)

    time.sleep(0.5)
    assert sorted(work.iterdir()) == [service_audit]


def test_in_use_directories_are_left_to_discard_when_their_process_ends_normally(tmp_path):
    work = tmp_path / "work"
    with in_use(work / "audit1") as path:
        a_tree(path)
        sweep(work)  # another audit starting meanwhile
        time.sleep(0.5)
        assert len(list(path.rglob("*.py"))) == 200
    discard(path)

    assert wait_for_rm(work, leaving=[]) == []


def test_in_use_refuses_a_directory_that_exists(tmp_path):
    (tmp_path / "audit1").mkdir()

    with pytest.raises(FileExistsError):
        with in_use(tmp_path / "audit1"):
            pass
