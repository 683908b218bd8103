"""The pipeline in-process, with an in-memory store: what it probes, what it reuses, what it reports."""

from __future__ import annotations

from pathlib import Path

from auditor.core.cache import MemoryStore
from auditor.core.findings import Verdict
from auditor.core.pipeline import AuditInput, AuditOptions, run_audit
from tests.wheelfactory import build_wheel

OPTIONS = AuditOptions(use_index=False, timeout=10, python="/usr/bin/python3.11")


def wheel_set(directory: Path) -> tuple[Path, ...]:
    directory.mkdir()
    return (
        build_wheel(directory, "fa-app", {"fa_app/__init__.py": "import fa_lib\n"}, requires=["fa-lib"]),
        build_wheel(
            directory,
            "fa-lib",
            {
                "fa_lib/__init__.py": "import threading, time\n"
                "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n",
                "fa_lib/pool.py": "import concurrent.futures\n\n"
                "def pool():\n    return concurrent.futures.ThreadPoolExecutor()\n",
            },
        ),
    )


def test_run_audit_probes_everything_then_reuses_everything_without_installing(tmp_path):
    wheels = wheel_set(tmp_path / "wheels")
    store, events = MemoryStore(), []

    first = run_audit(AuditInput(wheels=wheels), workdir=tmp_path / "first", store=store, options=OPTIONS)
    second = run_audit(
        AuditInput(wheels=wheels),
        workdir=tmp_path / "second",
        store=store,
        options=OPTIONS,
        progress=lambda event, data: events.append((event, data)),
    )

    assert first.verdict == Verdict.UNSAFE
    assert ("planned", {"total": 2, "cached": 2, "to_probe": 0}) in events
    assert not (tmp_path / "second" / "env").exists()
    assert [d.cached for d in second.distributions] == [True, True]
    assert [d.to_dict() | {"cached": None} for d in second.distributions] == [
        d.to_dict() | {"cached": None} for d in first.distributions
    ]


def test_run_audit_merges_the_static_scan_into_the_distributions_findings(tmp_path):
    report = run_audit(
        AuditInput(wheels=wheel_set(tmp_path / "wheels")), workdir=tmp_path / "w", store=MemoryStore(), options=OPTIONS
    )

    lib = next(d for d in report.distributions if d.name == "fa-lib")
    assert lib.verdict == Verdict.UNSAFE
    assert sorted(f.kind for f in lib.findings) == ["runtime-thread", "runtime-thread", "thread-on-import"]
    assert lib.paths == (("fa-lib",), ("fa-app", "fa-lib"))
    app = next(d for d in report.distributions if d.name == "fa-app")
    assert (app.verdict, app.findings, app.paths) == (Verdict.SAFE, (), ())
