"""Audits through the real service: submitted over HTTP, probed by a separate worker process, reported over HTTP.

The wheels are uploaded with the audit (multipart `wheels`), so nothing comes from the package index. Each test
builds wheels of its own (their content, and so their results, are new to the database), except where reuse is the
point.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.service.conftest import Service, by_name, plain, thread_starter
from tests.wheelfactory import build_wheel


def test_a_wheel_set_submitted_over_http_is_probed_by_the_worker_and_reported(live: Service, tmp_path: Path):
    wheels = [
        plain(tmp_path, "svc-a-app", requires=["svc-a-telemetry"]),
        thread_starter(tmp_path, "svc-a-telemetry"),
    ]

    created = live.submit_wheels(wheels)
    audit = live.wait_for(created["id"])

    assert created["status"] == "queued"
    assert created["url"] == f"{live.url}/api/v1/audits/{created['id']}/"
    assert audit["status"] == "done", f"{audit}\n{live.logs()}"
    assert audit["progress"] == {"done": 2, "total": 2}
    report = audit["report"]
    assert report["schema"] == "forkaudit-report/1"
    assert (report["verdict"], report["environment"]["sandbox"]) == ("unsafe", "bwrap")
    counts = {key: report["summary"][key] for key in ("distributions", "unsafe", "caution", "safe", "error")}
    assert counts == {"distributions": 2, "unsafe": 1, "caution": 0, "safe": 1, "error": 0}
    dists = by_name(report)
    telemetry, app = dists["svc-a-telemetry"], dists["svc-a-app"]
    assert (telemetry["verdict"], telemetry["cached"]) == ("unsafe", False)
    assert ["svc-a-app", "svc-a-telemetry"] in telemetry["paths"]
    [thread] = [f for f in telemetry["findings"] if f["kind"] == "thread-on-import"]
    assert (thread["thread"], thread["alive_after_import"], thread["module"]) == (
        "svc-a-telemetry-flusher",
        True,
        "svc_a_telemetry",
    )
    # The app only imports the thread starter: the thread is not blamed on it.
    assert (app["verdict"], app["findings"], app["cached"]) == ("safe", [], False)


def test_a_second_audit_reuses_the_stored_result_of_a_distribution_it_shares(live: Service, tmp_path: Path):
    shared = thread_starter(tmp_path, "svc-b-shared")
    first = live.wait_for(live.submit_wheels([plain(tmp_path, "svc-b-one", requires=["svc-b-shared"]), shared])["id"])

    second = live.wait_for(live.submit_wheels([plain(tmp_path, "svc-b-two", requires=["svc-b-shared"]), shared])["id"])

    assert (first["status"], second["status"]) == ("done", "done"), live.logs()
    first_dists, second_dists = by_name(first["report"]), by_name(second["report"])
    assert (first_dists["svc-b-shared"]["cached"], first_dists["svc-b-one"]["cached"]) == (False, False)
    assert (second_dists["svc-b-shared"]["cached"], second_dists["svc-b-two"]["cached"]) == (True, False)
    for key in ("verdict", "version", "findings", "modules"):
        assert second_dists["svc-b-shared"][key] == first_dists["svc-b-shared"][key]
    assert ["svc-b-two", "svc-b-shared"] in second_dists["svc-b-shared"]["paths"]
    [(stored,)] = live.query("SELECT COUNT(*) FROM auditor_proberecord WHERE name = ?", "svc-b-shared")
    assert stored == 1


def test_two_audits_submitted_at_once_probe_the_version_they_share_once(live: Service, tmp_path: Path):
    # Its import takes long enough for both audits to reach it while it is being probed.
    shared = thread_starter(tmp_path, "svc-c-shared", sleep=3)
    sets = [[plain(tmp_path, f"svc-c-{n}", requires=["svc-c-shared"]), shared] for n in ("left", "right")]

    with ThreadPoolExecutor(max_workers=2) as pool:
        created = list(pool.map(live.submit_wheels, sets))
    audits = [live.wait_for(c["id"]) for c in created]

    assert [a["status"] for a in audits] == ["done", "done"], live.logs()
    shared_entries = [by_name(a["report"])["svc-c-shared"] for a in audits]
    # Exactly one audit probed it; the other waited for that probe and reused its result.
    assert sorted(entry["cached"] for entry in shared_entries) == [False, True]
    assert {entry["verdict"] for entry in shared_entries} == {"unsafe"}
    [(stored,)] = live.query("SELECT COUNT(*) FROM auditor_proberecord WHERE name = ?", "svc-c-shared")
    assert stored == 1
    assert live.query("SELECT COUNT(*) FROM auditor_probeclaim") == [(0,)]


def test_a_thread_blamed_on_a_dependency_that_starts_none_is_the_blamers_in_the_report_and_the_store(
    live: Service, tmp_path: Path
):
    blame_the_dependency = """
        import os, threading, time, svc_c_dependency
        threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
        import __main__ as b
        where = [[os.path.abspath(svc_c_dependency.__file__), 1, "<module>"]]
        b._report = (lambda report: lambda: dict(report(), threads=[
            dict(t, module="svc_c_dependency", stack=where) for t in report()["threads"]]))(b._report)
    """
    wheels = [
        build_wheel(
            tmp_path, "svc-c-blamer", {"svc_c_blamer/__init__.py": blame_the_dependency}, requires=["svc-c-dependency"]
        ),
        plain(tmp_path, "svc-c-dependency"),
    ]

    audit = live.wait_for(live.submit_wheels(wheels)["id"])

    assert audit["status"] == "done", live.logs()
    dists = by_name(audit["report"])
    assert (dists["svc-c-blamer"]["verdict"], dists["svc-c-dependency"]["verdict"]) == ("unsafe", "safe")
    [(stored,)] = live.query("SELECT verdict FROM auditor_proberecord WHERE name = ?", "svc-c-blamer")
    assert stored == "unsafe"
