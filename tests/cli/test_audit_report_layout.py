"""`forkaudit audit -r` end to end, for what the report points at and how wide it is: SARIF at the requirements lines
of a repository, the table at the terminal's width, `-v` for everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.wheelfactory import build_wheel

REQUIREMENTS = "# the service\nfa-clean\n\n-r base.txt\nfa-app==1.0  # the web app\n"
BASE = "fa-other\n"


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree whose deploy/requirements.txt brings in fa-telemetry (through fa-app) and fa-spinner (through
    fa-other, from an included file); the packages come from a local directory only."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-app", {"fa_app/__init__.py": "import fa_telemetry\n"}, requires=["fa-telemetry"])
    build_wheel(
        wheels,
        "fa-telemetry",
        {
            "fa_telemetry/__init__.py": """
                import threading, time
                threading.Thread(target=time.sleep, args=(60,), name="flusher", daemon=True).start()
            """
        },
    )
    build_wheel(wheels, "fa-other", {"fa_other/__init__.py": "import fa_spinner\n"}, requires=["fa-spinner"])
    build_wheel(
        wheels,
        "fa-spinner",
        {"fa_spinner/__init__.py": "import threading\nthreading.Thread(target=sum, args=((),)).start()\n"},
    )
    build_wheel(wheels, "fa-clean", {"fa_clean/__init__.py": "CLEAN = True\n"})
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "deploy").mkdir()
    (root / "deploy" / "requirements.txt").write_text(REQUIREMENTS)
    (root / "deploy" / "base.txt").write_text(BASE)
    return root


def test_sarif_locates_each_result_at_the_requirements_line_that_brings_it_in(forkaudit, repository):
    done = forkaudit("audit", "-r", "requirements.txt", "--format", "sarif", cwd=repository / "deploy")

    assert done.returncode == 1, done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    located = {}
    for result in run["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        line = (repository / uri).read_text().splitlines()[physical["region"]["startLine"] - 1]
        located[result["properties"]["distribution"]] = (uri, line, result["level"])
    assert located == {
        "fa-telemetry": ("deploy/requirements.txt", "fa-app==1.0  # the web app", "error"),
        "fa-spinner": ("deploy/base.txt", "fa-other", "warning"),
    }


@pytest.mark.parametrize("columns", [80, 200])
def test_the_table_fits_the_terminal_and_verbose_shows_everything(forkaudit, repository, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))

    short = forkaudit("audit", "-r", "requirements.txt", cwd=repository / "deploy")
    verbose = forkaudit("audit", "-r", "requirements.txt", "-v", cwd=repository / "deploy")

    assert short.returncode == verbose.returncode == 1, short.stderr + verbose.stderr
    assert max(len(line) for line in short.stdout.splitlines() + verbose.stdout.splitlines()) <= columns
    # The headline comes first; the table starts at its header.
    lines = short.stdout.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("package ")) :]
    assert [line.split()[0] for line in lines[2:4]] == ["fa-telemetry", "fa-spinner"]
    assert lines[4] == "3 safe: fa-app 1.0, fa-clean 1.0, fa-other 1.0"
    assert "5 distributions: 1 unsafe, 0 error, 1 caution, 3 safe; verdict: unsafe" in lines
    assert "import after fork" in lines[2]
    assert all(f"{name} 1.0" in verbose.stdout for name in ("fa-app", "fa-clean", "fa-other"))
    assert "safe:" not in verbose.stdout
