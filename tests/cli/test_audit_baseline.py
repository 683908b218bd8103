"""`forkaudit audit --baseline REPORT.json`: only what the baseline does not have fails, and leads the report.
Real wheels, real probes; the baseline is a report the same command wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.wheelfactory import build_wheel

THREAD = """
    import threading, time
    threading.Thread(target=time.sleep, args=(60,), name="{name}", daemon=True).start()
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fa-app pulls in fa-telemetry, which starts a thread (the target branch); fa-beacon, which also starts one,
    is what a pull request adds. fa-telemetry 2.0 keeps its thread."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-app", {"fa_app/__init__.py": "import fa_telemetry\n"}, requires=["fa-telemetry"])
    for version in ("1.0", "2.0"):
        files = {"fa_telemetry/__init__.py": THREAD.format(name="fa-telemetry-flusher")}
        build_wheel(wheels, "fa-telemetry", files, version=version)
    build_wheel(wheels, "fa-beacon", {"fa_beacon/__init__.py": THREAD.format(name="fa-beacon-pinger")})
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "none")
    return tmp_path


def audit(forkaudit, project: Path, requirements: str, *options: str):
    (project / "requirements.txt").write_text(requirements)
    return forkaudit("audit", "-r", "requirements.txt", "--no-index", "--shallow", *options, cwd=project)


@pytest.fixture
def baseline(forkaudit, project: Path) -> Path:
    done = audit(forkaudit, project, "fa-app\nfa-telemetry==1.0\n", "--format", "json", "--output", "base.json")
    assert done.returncode == 1, done.stderr
    return project / "base.json"


def test_what_the_baseline_has_is_known_and_does_not_fail(forkaudit, project, baseline):
    done = audit(forkaudit, project, "fa-app\n", "--baseline", str(baseline))  # fa-telemetry 2.0 now

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Nothing new: the problem left is in the baseline"
    assert lines[1] == "Against the baseline: 0 new problems; 1 known (fa-telemetry), not counted"
    (row,) = [line for line in lines if line.startswith("fa-telemetry 2.0")]
    assert row.split()[2:4] == ["unsafe,", "known"]
    without = audit(forkaudit, project, "fa-app\n")
    assert without.returncode == 1  # the same set fails without the baseline


def test_a_new_problem_fails_and_leads_the_pull_request_comment(forkaudit, project, baseline):
    done = audit(forkaudit, project, "fa-app\nfa-beacon\n", "--baseline", str(baseline), "--format", "markdown")

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "## forkaudit: 🛑 New: fa-beacon 1.0 leaves a Python thread `fa-beacon-pinger` running after import — "
        "fix: import it after the fork (no setting was verified to stop it)"
    )
    assert lines[2] == r"**Against the baseline: 1 new problem \(fa-beacon\); 1 known \(fa-telemetry\), not counted**"
    new_table, known = done.stdout.split("<summary>1 distribution known from the baseline (not counted)</summary>")
    assert "| fa-beacon |" in new_table and "| fa-telemetry |" not in new_table
    assert "| fa-telemetry |" in known.split("</details>")[0]
    assert done.stderr.splitlines()[-1] == "forkaudit: " + lines[0].removeprefix("## forkaudit: 🛑 ")


def test_the_json_report_says_which_problems_are_new_known_and_fixed(forkaudit, project, baseline):
    done = audit(forkaudit, project, "fa-beacon\n", "--baseline", str(baseline), "--format", "json")

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    beacon = {"distribution": "fa-beacon", "kind": "thread-on-import", "what": "fa-beacon-pinger", "verdict": "unsafe"}
    telemetry = dict(beacon, distribution="fa-telemetry", what="fa-telemetry-flusher")
    assert report["baseline"] == {"new": [beacon], "known": [], "fixed": [telemetry]}
    assert report["verdict"] == "unsafe" and report["schema"] == "forkaudit-report/1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--baseline missing.json: cannot read it: No such file or directory"),
        ("{not json", "--baseline missing.json: not JSON"),
        (
            '{"schema": "other/1"}',
            "--baseline missing.json: not a forkaudit JSON report (write one with --format json)",
        ),
    ],
)
def test_a_baseline_that_cannot_be_used_is_exit_2_naming_it(forkaudit, project, content, message):
    if content is not None:
        (project / "missing.json").write_text(content)

    done = audit(forkaudit, project, "fa-app\n", "--baseline", "missing.json")

    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "resolving" not in done.stderr  # refused before any work
