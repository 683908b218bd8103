"""Audits work in memory when the machine has room, in a directory nobody else can touch; else in the data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from auditor.core.workspace import MEMORY, _is_tmpfs, choose_work_root, private_directory, work_root

NOBODY = 65534


def free_bytes(path: Path) -> int:
    space = os.statvfs(path)
    return space.f_bavail * space.f_frsize


def test_memory_is_a_tmpfs_here() -> None:
    # The tests below that choose memory need this machine's /dev/shm (Linux's default, also in CI).
    assert _is_tmpfs(MEMORY)
    assert not _is_tmpfs(Path("/"))


def test_audits_work_in_a_private_directory_in_memory_when_it_has_room(tmp_path: Path) -> None:
    root = choose_work_root(tmp_path / "data", min_free=2**20)

    private = MEMORY / f"forkaudit-{os.geteuid()}"
    assert root == private / "work"
    found = private.lstat()
    assert stat.S_ISDIR(found.st_mode)
    assert (found.st_uid, stat.S_IMODE(found.st_mode)) == (os.geteuid(), 0o700)


def test_audits_work_in_the_data_directory_when_memory_is_short(tmp_path: Path) -> None:
    too_much = free_bytes(MEMORY) + 2**30

    assert choose_work_root(tmp_path / "data", min_free=too_much) == tmp_path / "data" / "work"


def test_audits_work_in_the_data_directory_when_memory_is_not_a_tmpfs(tmp_path: Path) -> None:
    disk = tmp_path / "not-a-mount"
    disk.mkdir()

    assert choose_work_root(tmp_path / "data", memory=disk, min_free=0) == tmp_path / "data" / "work"
    assert list(disk.iterdir()) == []


def test_a_configured_work_dir_is_used_as_it_is(tmp_path: Path) -> None:
    assert work_root(str(tmp_path / "mine"), tmp_path / "data") == tmp_path / "mine"


def test_a_private_directory_is_created_for_this_user_alone(tmp_path: Path) -> None:
    made = private_directory(tmp_path / "forkaudit-x")

    assert made == tmp_path / "forkaudit-x"
    assert stat.S_IMODE(made.stat().st_mode) == 0o700


def test_a_private_directory_found_as_we_left_it_is_used_again(tmp_path: Path) -> None:
    (tmp_path / "forkaudit-x").mkdir(mode=0o700)

    assert private_directory(tmp_path / "forkaudit-x") == tmp_path / "forkaudit-x"


def other_users_directory(path: Path) -> None:
    path.mkdir(mode=0o700)
    os.chown(path, NOBODY, NOBODY)


def open_directory(path: Path) -> None:
    path.mkdir()
    os.chmod(path, 0o777)


def link_to_elsewhere(path: Path) -> None:
    target = path.with_name("elsewhere")
    target.mkdir(mode=0o700)
    path.symlink_to(target)


def a_file(path: Path) -> None:
    path.write_text("")


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param(other_users_directory, id="another user's"),
        pytest.param(open_directory, id="writable by all"),
        pytest.param(link_to_elsewhere, id="a symlink"),
        pytest.param(a_file, id="a file"),
    ],
)
def test_what_someone_else_put_in_its_place_is_refused(tmp_path: Path, planted, caplog) -> None:
    if planted is other_users_directory and os.geteuid() != 0:
        pytest.fail("chown to another user needs root (the test suite runs as root)")
    planted(tmp_path / "forkaudit-x")

    assert private_directory(tmp_path / "forkaudit-x") is None
    assert any("forkaudit-x" in record.getMessage() for record in caplog.records)
