"""`forkaudit check --baseline AUDIT_ID`: the target branch's audit on the server is the baseline; only what it
does not have fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.service.conftest import Service, plain, thread_starter
from tests.service.test_check_command import forkaudit_check


@pytest.fixture(scope="module")
def packages(service: Service) -> None:
    """An app that pulls in a telemetry package (a thread), and a beacon (another thread) a change adds."""
    plain(service.find_links, "forkaudit-test-base-app", requires=["forkaudit-test-base-telemetry"])
    thread_starter(service.find_links, "forkaudit-test-base-telemetry")
    thread_starter(service.find_links, "forkaudit-test-base-beacon")


def check(live: Service, directory: Path, requirements: str, *options: str):
    path = directory / "requirements.txt"
    path.write_text(requirements)
    return forkaudit_check("-r", str(path), "--server", live.url, "--poll", "0.5", *options, token=live.token)


def test_an_audit_on_the_server_is_the_baseline(live: Service, packages: None, tmp_path: Path):
    target = check(live, tmp_path, "forkaudit-test-base-app==1.0\n", "--format", "json")
    assert target.returncode == 1, target.stderr
    audit_id = re.search(r"submitted audit ([0-9a-f-]{36})", target.stderr).group(1)

    same = check(live, tmp_path, "forkaudit-test-base-app==1.0\n", "--baseline", audit_id)
    added = check(
        live, tmp_path, "forkaudit-test-base-app==1.0\nforkaudit-test-base-beacon==1.0\n", "--baseline", audit_id
    )

    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("Nothing new: the problem left is in the baseline\n")
    assert added.returncode == 1, added.stderr
    assert added.stdout.startswith("New: forkaudit-test-base-beacon 1.0 leaves a Python thread")
    assert "1 known (forkaudit-test-base-telemetry), not counted" in " ".join(added.stdout.split())


def test_an_unknown_audit_id_is_exit_2_before_anything_is_sent(live: Service, packages: None, tmp_path: Path):
    done = check(live, tmp_path, "forkaudit-test-base-app==1.0\n", "--baseline", "6d1f3c0e-0000-4000-8000-000000000000")

    assert done.returncode == 2
    assert "--baseline 6d1f3c0e-0000-4000-8000-000000000000: no audit with this id is visible to this token" in (
        done.stderr
    )
    assert "submitted audit" not in done.stderr
