"""The server's own paths (its interpreter's prefix, the audit's work directory) are taken out of every report."""

from __future__ import annotations

import dataclasses
import json

import pytest

from auditor.core.findings import ImportFailure, ProcessOnImport
from auditor.core.report import FORMATS, render
from auditor.core.report.paths import strip_server_paths
from tests.core.test_report import hostile_distribution, make_report

WORK = "/dev/shm/forkaudit-0/work/e034fa279bac498fa364b726eeb27a6d"
PREFIX = "/root/.pyenv/versions/3.11.7"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"{PREFIX}/lib/python3.11/subprocess.py:1821 in _execute_child",
            "python3.11/subprocess.py:1821 in _execute_child",
        ),
        (f"{WORK}/env/bin/python -c import time; time.sleep(60)", "python -c import time; time.sleep(60)"),
        (f"RuntimeError: {WORK}/env/lib/python3.11/site-packages/fa/broken.py", "RuntimeError: fa/broken.py"),
        (f"No module named 'x' ({PREFIX}/bin/python3.11)", "No module named 'x' (python3.11)"),
        (f"{WORK}/built/x-1.0.tar.gz: no setup.py", "built/x-1.0.tar.gz: no setup.py"),
        ("fa/__init__.py:2 in <module>", "fa/__init__.py:2 in <module>"),  # already relative
        ("/usr/bin/ldconfig -p", "/usr/bin/ldconfig -p"),  # the system's, not the server's own
        ("numpy.libs/libscipy_openblas64_-ff651d7f.so", "numpy.libs/libscipy_openblas64_-ff651d7f.so"),
    ],
)
def test_server_paths_are_made_relative(text, shown):
    assert strip_server_paths(text) == shown


def spawner():
    process = ProcessOnImport(
        command=f"{WORK}/env/bin/python -c import time; time.sleep(60)",
        alive_after_import=True,
        module="fa",
        file="fa/__init__.py",
        line=2,
        stack=(f"{PREFIX}/lib/python3.11/subprocess.py:1821 in _execute_child", "fa/__init__.py:2 in <module>"),
    )
    failure = ImportFailure(
        module="fa.broken",
        reason="import-error",
        message=f"RuntimeError: {WORK}/env/lib/python3.11/site-packages/fa/broken.py",
    )
    return dataclasses.replace(hostile_distribution(), name="fa", findings=(process, failure))


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_shows_them(fmt):
    report = make_report(spawner(), errors=(f"could not build x: {WORK}/built/x: failed",))
    output = render(report, fmt, **({"width": 400, "verbose": True} if fmt == "table" else {}))

    assert "/root/" not in output and "/dev/shm" not in output and "e034fa27" not in output
    assert "python -c import time" in output


def test_the_json_report_keeps_its_shape():
    data = json.loads(render(make_report(spawner()), "json"))

    (process, failure) = data["distributions"][0]["findings"]
    assert process["stack"] == ["python3.11/subprocess.py:1821 in _execute_child", "fa/__init__.py:2 in <module>"]
    assert process["command"] == "python -c import time; time.sleep(60)"
    assert failure["message"] == "RuntimeError: fa/broken.py"
