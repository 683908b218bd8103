"""auditor.core.inputs.local: requirements files read from disk, includes kept under the top-level file's directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from auditor.core.inputs import (
    MAX_REQUIREMENT_FILES,
    MAX_REQUIREMENTS_FILE_BYTES,
    InputError,
    parse_requirements,
    read_requirement_files,
)

SECRET = "https://ci-bot:ghp_0123456789abcdef@github.com"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder, beside a secret that its requirements must never reach."""
    (tmp_path / ".git-credentials").write_text(SECRET + "\n")
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def refusal(paths: list[Path], **kwargs: bool) -> InputError:
    with pytest.raises(InputError) as caught:
        read_requirement_files([str(path) for path in paths], **kwargs)
    return caught.value


def test_read_requirement_files_follows_dotdot_only_while_it_stays_under_the_top_level_directory(project: Path) -> None:
    (project / "reqs").mkdir()
    (project / "other").mkdir()
    (project / "requirements.txt").write_text("-r reqs/base.txt\n")
    (project / "reqs" / "base.txt").write_text("six\n-c ../other/pins.txt\n")
    (project / "other" / "pins.txt").write_text("six<2\n")

    files = read_requirement_files([str(project / "requirements.txt")])

    parsed = parse_requirements(files, main=str(project / "requirements.txt"))
    assert (parsed.requirements, parsed.constraints) == (("six",), ("six<2",))
    (project / "other" / "pins.txt").write_text("-c ../../.git-credentials\n")
    error = refusal([project / "requirements.txt"])
    assert (error.file, error.line) == (str(project / "other" / "pins.txt"), 1)
    assert "is outside" in str(error) and "ghp_" not in str(error)


def test_read_requirement_files_refuses_an_include_that_climbs_out_without_reading_it(project: Path) -> None:
    (project / "requirements.txt").write_text("six\n-r ../.git-credentials\n")

    error = refusal([project / "requirements.txt"])

    assert (error.file, error.line) == (str(project / "requirements.txt"), 2)
    assert f"-r '../.git-credentials': is outside {project}" in str(error)
    assert "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS=true" in str(error)
    assert "ghp_" not in str(error)


def test_read_requirement_files_refuses_a_symlink_that_leads_out(project: Path) -> None:
    (project / "base.txt").symlink_to(project.parent / ".git-credentials")
    (project / "requirements.txt").write_text("-r base.txt\n")

    error = refusal([project / "requirements.txt"])

    assert str(error).startswith(f"{project / 'requirements.txt'}:1: -r 'base.txt': is outside {project}")
    assert "ghp_" not in str(error)


def test_read_requirement_files_takes_a_top_level_file_from_anywhere_and_keeps_its_includes_under_its_directory(
    project: Path,
) -> None:
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "requirements.txt").write_text("-r base.txt\n")
    (elsewhere / "base.txt").write_text("six\n")
    (project / "requirements.txt").write_text("-r ../elsewhere/base.txt\n")

    files = read_requirement_files([str(elsewhere / "requirements.txt")])

    assert files[str(elsewhere / "base.txt")] == b"six\n"
    assert "is outside" in str(refusal([project / "requirements.txt"]))


def test_read_requirement_files_follows_an_include_outside_only_when_the_operator_allows_it(project: Path) -> None:
    (project / "requirements.txt").write_text("-r ../common.txt\n")
    (project.parent / "common.txt").write_text("six\n")

    files = read_requirement_files([str(project / "requirements.txt")], allow_outside=True)

    assert files[os.path.normpath(str(project / "../common.txt"))] == b"six\n"
    assert "is outside" in str(refusal([project / "requirements.txt"]))


def test_read_requirement_files_refuses_a_fifo_without_waiting_for_a_writer(project: Path) -> None:
    os.mkfifo(project / "base.txt")
    (project / "requirements.txt").write_text("-r base.txt\n")

    started = time.monotonic()
    error = refusal([project / "requirements.txt"])

    assert time.monotonic() - started < 5
    assert str(error) == f"{project / 'requirements.txt'}:1: -r 'base.txt': is not a regular file (a FIFO)"


@pytest.mark.parametrize(("target", "kind"), [("/dev/zero", "a character device"), (".", "a directory")])
def test_read_requirement_files_refuses_a_top_level_file_that_is_not_a_regular_file(
    project: Path, target: str, kind: str
) -> None:
    path = project / target if target == "." else Path(target)

    assert str(refusal([path])) == f"{path}: is not a regular file ({kind})"


def test_read_requirement_files_refuses_an_include_of_a_directory(project: Path) -> None:
    (project / "reqs").mkdir()
    (project / "requirements.txt").write_text("-r reqs\n")

    assert str(refusal([project / "requirements.txt"])).endswith(": -r 'reqs': is not a regular file (a directory)")


def test_read_requirement_files_refuses_a_file_over_the_size_limit(project: Path) -> None:
    (project / "requirements.txt").write_text("-r big.txt\n")
    (project / "big.txt").write_bytes(b"#" * (MAX_REQUIREMENTS_FILE_BYTES + 1))

    error = refusal([project / "requirements.txt"])

    assert str(error) == f"{project / 'big.txt'}: is larger than the limit of {MAX_REQUIREMENTS_FILE_BYTES:,} bytes"


def test_read_requirement_files_refuses_more_files_than_the_limit(project: Path) -> None:
    for number in range(MAX_REQUIREMENT_FILES):
        (project / f"r{number}.txt").write_text(f"-r r{number + 1}.txt\n")
    (project / f"r{MAX_REQUIREMENT_FILES}.txt").write_text("six\n")

    error = refusal([project / "r0.txt"])

    assert str(error) == f"more than {MAX_REQUIREMENT_FILES} requirements files are included"
