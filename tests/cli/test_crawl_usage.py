"""`forkaudit crawl` refuses bad usage with exit 2 and a message, before it sets anything up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of the arguments --top --from is required"),
        (("--top", "0"), "--top: must be between 1 and 100000"),
        (("--top", "3", "--from", "x.txt"), "not allowed with argument"),
        (("--from", "missing.txt"), "missing.txt: cannot read: No such file or directory"),
        (("--from", "bad.txt"), "bad.txt:3: not a project name: 'not a name!'"),
        (("--from", "empty.txt"), "empty.txt: no project names"),
        (("--top", "5", "--max-distributions", "lots"), "--max-distributions: not a whole number"),
    ],
)
def test_bad_usage_is_exit_2_with_a_message(
    forkaudit: Callable[..., object], tmp_path: Path, args: tuple[str, ...], message: str
):
    (tmp_path / "bad.txt").write_text("numpy\n# fine\nnot a name!\n")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")

    done = forkaudit("crawl", *args)

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "forkaudit.sqlite3").exists()  # refused before any set-up


def test_the_shipped_ranking_gives_the_most_downloaded_projects_first():
    from auditor.core.ranking import top_projects

    top = top_projects(1000)

    assert len(top) == len(set(top)) == 1000
    assert top[:2] == ["boto3", "packaging"]
    assert "numpy" in top
