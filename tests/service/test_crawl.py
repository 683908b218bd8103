"""`forkaudit crawl` through the real service: the command drives, a separate Celery worker (Redis broker) resolves
and audits each project from a local index (the operator's wheel directory, UV_FIND_LINKS; no network), and the
database file shows what was stored.

Every test builds wheels with names of its own, so its projects are new to the database.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.service.conftest import PYTHON, ROOT, Service, plain, start_process, thread_starter, wait_until
from tests.wheelfactory import build_wheel

CRAWL_TIMEOUT = 300.0


def crawl(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PYTHON, "-m", "auditor.cli", "crawl", *args],
        cwd=ROOT,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=CRAWL_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{service.logs()}"
    return done


def project_list(directory: Path, *names: str) -> Path:
    path = directory / "projects.txt"
    path.write_text("# what to crawl\n" + "\n".join(names) + "\n")
    return path


def records(service: Service, prefix: str) -> dict[tuple[str, str], tuple[int, str, str]]:
    """(name, version) -> (id, verdict, created) of the stored results whose name starts with `prefix`."""
    rows = service.query(
        "SELECT name, version, id, verdict, created FROM auditor_proberecord WHERE name LIKE ?", f"{prefix}%"
    )
    return {(name, version): (pk, verdict, created) for name, version, pk, verdict, created in rows}


def audits_of(service: Service, prefix: str) -> list[tuple[str, str]]:
    return service.query(
        "SELECT id, input_text FROM auditor_audit WHERE input_text LIKE ? ORDER BY created", f"{prefix}%"
    )


def items(service: Service, prefix: str) -> dict[str, tuple[str, str]]:
    """project -> (status, outcome) in the newest crawl that has projects starting with `prefix`."""
    rows = service.query(
        "SELECT project, status, outcome FROM auditor_crawlitem WHERE crawl_id = "
        "(SELECT MAX(crawl_id) FROM auditor_crawlitem WHERE project LIKE ?)",
        f"{prefix}%",
    )
    return {project: (status, outcome) for project, status, outcome in rows}


def test_a_crawl_stores_each_project_and_its_dependencies_skips_with_causes_and_a_second_crawl_probes_nothing(
    live: Service, tmp_path: Path
):
    index = live.find_links
    plain(index, "crawl-a-app", requires=["crawl-a-telemetry"])
    thread_starter(index, "crawl-a-telemetry")
    plain(index, "crawl-a-big", requires=["crawl-a-b1", "crawl-a-b2", "crawl-a-b3"])
    for name in ("crawl-a-b1", "crawl-a-b2", "crawl-a-b3"):
        plain(index, name)
    projects = project_list(tmp_path, "crawl-a-app", "crawl-a-big", "Crawl_A_Missing")

    first = crawl(live, "--from", str(projects), "--max-distributions", "3")
    stored = records(live, "crawl-a-")
    audits = audits_of(live, "crawl-a-")
    second = crawl(live, "--from", str(projects), "--max-distributions", "3")

    # The project and its dependency are stored; the set over the budget and the unknown project are skipped.
    assert {name: verdict for (name, _), (_, verdict, _) in stored.items()} == {
        "crawl-a-app": "safe",
        "crawl-a-telemetry": "unsafe",
    }
    # One audit each, of the newest version: the set over the budget fails once resolved, before any install.
    assert sorted(text for _, text in audits) == ["crawl-a-app\n", "crawl-a-big\n", "crawl-a-missing\n"]
    assert "3 projects: 1 audited, 0 already known, 2 skipped (1 too-large, 1 unresolvable)" in first.stdout, first
    assert "2 distributions in their sets: 2 probed, 0 reused; 1 unsafe, 0 caution, 1 safe, 0 error" in first.stdout
    assert "crawl-a-app 1.0: unsafe" in first.stderr  # its set's verdict
    assert (
        "crawl-a-big: skipped (too-large: the set of crawl-a-big 1.0 has 4 distributions, more than the budget of 3)"
        in first.stderr
    )
    assert "crawl-a-missing: skipped (unresolvable: Because crawl-a-missing was not found" in first.stderr
    # Again: a new crawl (the first one finished) that finds everything known, and probes nothing.
    assert "3 projects: 0 audited, 1 already known, 2 skipped" in second.stdout, second
    assert records(live, "crawl-a-") == stored
    assert len(audits_of(live, "crawl-a-app")) == 1  # the skipped ones' audits are tried again
    assert items(live, "crawl-a-")["crawl-a-app"] == ("done", "known")


def test_a_crawl_killed_mid_way_resumes_without_doing_anything_twice(live: Service, tmp_path: Path):
    names = ["crawl-k-one", "crawl-k-two", "crawl-k-three"]
    for name in names:  # each import takes a while, so that the crawl can be caught mid-way
        plain(live.find_links, name, sleep=3)
    projects = project_list(tmp_path, *names)
    argv = [PYTHON, "-m", "auditor.cli", "crawl", "--from", str(projects), "--concurrency", "1"]
    driver = start_process("crawl", argv, env=live.env, logs=tmp_path)
    try:
        wait_until(
            lambda: (
                items(live, "crawl-k-").get("crawl-k-one", ("",))[0] == "done"
                and items(live, "crawl-k-")["crawl-k-two"][0] in ("queued", "running")
            ),
            timeout=CRAWL_TIMEOUT,
            what=lambda: f"the first project done and the second under way\n{driver.tail()}\n{live.logs()}",
        )
    finally:
        driver.kill()
    assert live.worker is not None
    live.worker.kill()  # with whatever it held: the broker gives it back to the next worker
    before = records(live, "crawl-k-")
    [(first_audit, _)] = audits_of(live, "crawl-k-one")
    live.start_worker()

    resumed = crawl(live, "--from", str(projects), "--concurrency", "1")

    assert "resuming crawl" in resumed.stderr, resumed.stderr
    assert "3 projects: 3 audited, 0 already known, 0 skipped" in resumed.stdout, resumed.stdout
    assert items(live, "crawl-k-") == {name: ("done", "probed") for name in names}
    [(crawls,)] = live.query("SELECT COUNT(DISTINCT crawl_id) FROM auditor_crawlitem WHERE project LIKE ?", "crawl-k-%")
    assert crawls == 1
    # One audit per project, the first one's from before the kill; each result stored once, the first one untouched.
    assert sorted(text for _, text in audits_of(live, "crawl-k-")) == sorted(f"{name}\n" for name in names)
    assert audits_of(live, "crawl-k-one")[0][0] == first_audit
    after = records(live, "crawl-k-")
    assert sorted(name for name, _ in after) == sorted(names)
    assert after[("crawl-k-one", "1.0")] == before[("crawl-k-one", "1.0")]


def test_refresh_audits_a_project_whose_newest_version_is_not_in_the_database(live: Service, tmp_path: Path):
    plain(live.find_links, "crawl-r-lib")
    projects = project_list(tmp_path, "crawl-r-lib")
    crawl(live, "--from", str(projects))
    thread_starter(live.find_links, "crawl-r-lib", version="2.0")  # a new release, which starts a thread

    plain_again = crawl(live, "--from", str(projects))
    stored_before_refresh = records(live, "crawl-r-")
    refreshed = crawl(live, "--from", str(projects), "--refresh")

    assert "1 project: 0 audited, 1 already known" in plain_again.stdout, plain_again.stdout
    assert set(stored_before_refresh) == {("crawl-r-lib", "1.0")}
    assert "1 project: 1 audited" in refreshed.stdout, refreshed.stdout
    verdicts = {version: verdict for (_, version), (_, verdict, _) in records(live, "crawl-r-").items()}
    assert verdicts == {"1.0": "safe", "2.0": "unsafe"}
    [(_, text)] = audits_of(live, "crawl-r-lib==2")
    assert text == "crawl-r-lib==2.0\n"


def test_refresh_of_a_project_still_at_its_stored_version_audits_nothing(live: Service, tmp_path: Path):
    build_wheel(live.find_links, "crawl-u-lib", {"crawl_u_lib/__init__.py": ""}, version="1.5")
    projects = project_list(tmp_path, "crawl-u-lib")
    crawl(live, "--from", str(projects))

    refreshed = crawl(live, "--from", str(projects), "--refresh")

    assert "1 project: 0 audited, 1 already known" in refreshed.stdout, refreshed.stdout
    assert len(audits_of(live, "crawl-u-lib")) == 1


def test_a_project_not_done_within_its_budget_is_skipped_and_its_audit_stopped(live: Service, tmp_path: Path):
    plain(live.find_links, "crawl-t-slow", sleep=20)  # its probe outlasts the budget below
    projects = project_list(tmp_path, "crawl-t-slow")

    done = crawl(live, "--from", str(projects), "--item-timeout", "2")

    assert "1 project: 0 audited, 0 already known, 1 skipped (1 time-budget)" in done.stdout, done.stdout
    # Its version is known once its audit has resolved it, which the budget may not have let it do.
    assert re.search(
        r"crawl-t-slow( 1\.0)?: skipped \(time-budget: not done within the crawl's budget of 2 s\)", done.stderr
    )
    [(status, error)] = live.query("SELECT status, error FROM auditor_audit WHERE input_text = ?", "crawl-t-slow\n")
    assert (status, error) == ("failed", "the crawl stopped it: not done within the crawl's budget of 2 s")


def test_the_workers_carry_a_crawl_to_its_end_without_its_driver(live: Service, tmp_path: Path):
    names = ["crawl-w-one", "crawl-w-two", "crawl-w-known"]
    for name in names:
        plain(live.find_links, name)
    crawl(live, "--from", str(project_list(tmp_path, "crawl-w-known")))
    # A crawl handed out once, one project at a time, and never looked at again: each worker that ends a project's
    # audit (or finds it known) settles it and hands out the next, down to the crawl's end.
    start = (
        "import sys\n"
        "from auditor.cli.common import setup_django\n"
        "setup_django()\n"
        "from auditor.crawl import CrawlOptions, crawl_advance, crawl_open\n"
        "crawl, _ = crawl_open(projects=sys.argv[1:], options=CrawlOptions(concurrency=1))\n"
        "crawl_advance(crawl_id=crawl.pk)\n"
    )
    subprocess.run([PYTHON, "-c", start, *names], cwd=ROOT, env=live.env, check=True, timeout=CRAWL_TIMEOUT)

    wait_until(
        lambda: live.query("SELECT status FROM auditor_crawl ORDER BY id DESC LIMIT 1") == [("done",)],
        timeout=CRAWL_TIMEOUT,
        what=lambda: f"the crawl done by the workers alone: {items(live, 'crawl-w-')}\n{live.logs()}",
    )
    assert items(live, "crawl-w-") == {
        "crawl-w-one": ("done", "probed"),
        "crawl-w-two": ("done", "probed"),
        "crawl-w-known": ("done", "known"),
    }
    versions = live.query("SELECT version FROM auditor_crawlitem WHERE crawl_id = (SELECT MAX(id) FROM auditor_crawl)")
    assert versions == [("1.0",)] * 3
