"""`forkaudit crawl` on the embedded default: SQLite and the file broker, with the worker the command starts itself.
The file broker loses the tasks a dead worker held, so a killed crawl must queue them again when it resumes; and the
worker must not outlive the command that started it, even when that one is killed.

Projects come from a local index (UV_FIND_LINKS, offline).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from tests.service.conftest import (
    PYTHON,
    ROOT,
    alive,
    base_environment,
    descendants,
    plain,
    start_process,
    wait_until,
)

TIMEOUT = 300.0


def query(database: Path, sql: str, *params: object) -> list[tuple]:
    if not database.exists():
        return []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)) as db:
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return []


def setup(tmp_path: Path, names: list[str]) -> tuple[list[str], dict[str, str], Path]:
    """The crawl's command line, its environment and its database, for projects `names` whose imports are slow."""
    index = tmp_path / "index"
    index.mkdir()
    for name in names:
        plain(index, name, sleep=3)
    projects = tmp_path / "projects.txt"
    projects.write_text("\n".join(names) + "\n")
    env = base_environment(FORKAUDIT_DATA_DIR=str(tmp_path / "data"), UV_FIND_LINKS=str(index))
    # A short budget: a project whose lost tasks were not queued again is skipped soon, instead of hanging.
    argv = [PYTHON, "-m", "auditor.cli", "crawl", "--from", str(projects), "--concurrency", "1", "--item-timeout", "90"]
    return argv, env, tmp_path / "data" / "forkaudit.sqlite3"


def test_the_worker_of_a_killed_crawl_finishes_its_task_and_exits(tmp_path: Path):
    argv, env, database = setup(tmp_path, ["crawl-d-one"])
    driver = start_process("crawl", argv, env=env, logs=tmp_path)
    try:
        wait_until(
            lambda: query(database, "SELECT status FROM auditor_crawlitem") == [("running",)],
            timeout=TIMEOUT,
            what=lambda: f"the project under way\n{driver.tail()}",
        )
        workers = descendants(driver.pid)
    finally:
        driver.kill()

    # Told by the kernel that the command died (SIGTERM), it stops as on a Ctrl-C: its running task first.
    wait_until(lambda: not any(alive(pid) for pid in workers), timeout=120, what="the crawl's worker to exit")
    assert workers


def test_a_killed_embedded_crawl_queues_the_lost_tasks_again_and_does_nothing_twice(tmp_path: Path):
    names = ["crawl-e-one", "crawl-e-two", "crawl-e-three"]
    argv, env, database = setup(tmp_path, names)

    def statuses() -> dict[str, str]:
        return dict(query(database, "SELECT project, status FROM auditor_crawlitem"))

    driver = start_process("crawl", argv, env=env, logs=tmp_path)
    try:
        wait_until(
            lambda: statuses().get("crawl-e-one") == "done" and statuses().get("crawl-e-two") == "running",
            timeout=TIMEOUT,
            what=lambda: f"the first project done and the second under way\n{driver.tail()}",
        )
        workers = descendants(driver.pid)
    finally:
        driver.kill()
    for pid in workers:  # and the worker, with the tasks it held: the file broker has deleted them
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in workers), timeout=60, what="the killed worker to be gone")
    [(first_audit,)] = query(database, "SELECT id FROM auditor_audit WHERE input_text = ?", "crawl-e-one\n")
    [first_record] = query(database, "SELECT id, created FROM auditor_proberecord WHERE name = ?", "crawl-e-one")

    resumed = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )

    assert resumed.returncode == 0, f"{resumed.stdout}\n{resumed.stderr}"
    assert "resuming crawl" in resumed.stderr
    assert "3 projects: 3 audited, 0 already known, 0 skipped" in resumed.stdout, resumed.stdout
    assert statuses() == dict.fromkeys(names, "done")
    audits = query(database, "SELECT id, input_text FROM auditor_audit")
    assert sorted(text for _, text in audits) == sorted(f"{name}\n" for name in names)
    assert (first_audit, "crawl-e-one\n") in audits
    stored = query(database, "SELECT name, id, created FROM auditor_proberecord")
    assert sorted(name for name, _, _ in stored) == sorted(names)
    assert ("crawl-e-one", *first_record) in stored
