"""A worker killed in the middle of an audit: another worker finishes it, with every distribution exactly once."""

from __future__ import annotations

from pathlib import Path

from tests.service.conftest import Service, by_name, group_is_empty, plain, wait_until


def test_an_audit_survives_the_worker_being_killed_while_it_probes(live: Service, tmp_path: Path):
    wheels = [
        plain(tmp_path, "svc-d-app", requires=["svc-d-quick"]),
        plain(tmp_path, "svc-d-slow", sleep=8),  # its probe is under way when the worker dies
        plain(tmp_path, "svc-d-quick"),
    ]
    audit_id = live.submit_wheels(wheels)["id"]
    doomed = live.worker
    assert doomed is not None

    def only_the_slow_one_left_and_under_way() -> bool:
        claims = live.query("SELECT COUNT(*) FROM auditor_probeclaim")[0][0]
        return claims == 1 and live.audit(audit_id)["progress"] == {"done": 2, "total": 3}

    wait_until(only_the_slow_one_left_and_under_way, timeout=120, what=lambda: f"svc-d-slow's probe\n{live.logs()}")
    doomed.kill()  # SIGKILL, the whole process group: no chance to hand anything back

    assert group_is_empty(doomed.pid)
    assert live.audit(audit_id)["status"] == "running"
    live.start_worker()
    audit = live.wait_for(audit_id)

    assert audit["status"] == "done", f"{audit}\n{live.logs()}"
    names = [d["name"] for d in audit["report"]["distributions"]]
    assert sorted(names) == ["svc-d-app", "svc-d-quick", "svc-d-slow"]
    assert audit["progress"] == {"done": 3, "total": 3}
    assert by_name(audit["report"])["svc-d-slow"]["verdict"] == "safe"
    assert live.query("SELECT COUNT(*) FROM auditor_probeclaim") == [(0,)]
    assert live.query(
        "SELECT COUNT(*) FROM auditor_auditdistribution d JOIN auditor_audit a ON a.id = d.audit_id "
        "WHERE a.id = ? AND d.status = 'done'",
        audit_id.replace("-", ""),
    ) == [(3,)]
