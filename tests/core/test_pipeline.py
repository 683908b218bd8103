"""The pipeline in-process, with an in-memory store: what it probes, what it reuses, what it reports."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from auditor.core.cache import MemoryStore
from auditor.core.findings import Verdict, Vulnerability
from auditor.core.pipeline import AuditInput, AuditOptions, Planned, run_audit
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
        progress=events.append,
    )

    assert first.verdict == Verdict.UNSAFE
    assert Planned(total=2, cached=2, to_probe=0) in events
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
    kinds = ["fork-trial", "runtime-thread", "runtime-thread", "thread-on-import"]
    assert sorted(f.kind for f in lib.findings) == kinds
    assert lib.paths == (("fa-lib",), ("fa-app", "fa-lib"))
    app = next(d for d in report.distributions if d.name == "fa-app")
    assert (app.verdict, app.findings, app.paths) == (Verdict.SAFE, (), ())


def test_run_audit_looks_up_vulnerabilities_while_it_probes(tmp_path):
    asked = threading.Event()
    seen_when_planned = []

    def source(pins):
        asked.set()
        return {"fa-lib": [Vulnerability(id="PYSEC-1", description="A flaw.")]}, "vulnerability data incomplete"

    def progress(event):
        if isinstance(event, Planned):  # the probes start after this event
            seen_when_planned.append(asked.wait(timeout=10))

    report = run_audit(
        AuditInput(wheels=wheel_set(tmp_path / "wheels")),
        workdir=tmp_path / "w",
        store=MemoryStore(),
        options=OPTIONS,
        progress=progress,
        vulnerability_source=source,
    )

    assert seen_when_planned == [True]
    lib = next(d for d in report.distributions if d.name == "fa-lib")
    assert [f.id for f in lib.findings if isinstance(f, Vulnerability)] == ["PYSEC-1"]
    assert report.errors == ("vulnerability data incomplete",)


def test_run_audit_that_fails_does_not_wait_for_the_vulnerability_lookup(tmp_path):
    release = threading.Event()
    asked = threading.Event()

    def source(pins):
        asked.set()
        release.wait(timeout=60)  # a service that does not answer
        return {}, None

    class BrokenStore(MemoryStore):
        def get(self, key):
            assert asked.wait(timeout=10)  # the lookup is under way when the audit fails
            raise RuntimeError("database is gone")

    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="database is gone"):
            run_audit(
                AuditInput(wheels=wheel_set(tmp_path / "wheels")),
                workdir=tmp_path / "w",
                store=BrokenStore(),
                options=OPTIONS,
                vulnerability_source=source,
            )
        assert time.monotonic() - started < 30
    finally:
        release.set()


def test_code_that_may_start_threads_when_called_is_shown_but_sets_no_verdict(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(
        wheels,
        "fa-static-only",
        {
            "fa_static_only/__init__.py": "import threading\n\ndef serve():\n    threading.Thread().start()\n",
            "fa_static_only/_tests/test_it.py": "import threading\nthreading.Thread(target=print).start()\n",
            "fa_static_only/_testbase.py": "import threading\nthreading.Thread(target=print).start()\n",
        },
    )

    report = run_audit(
        AuditInput(wheels=tuple(wheels.glob("*.whl"))), workdir=tmp_path / "w", store=MemoryStore(), options=OPTIONS
    )

    [dist] = report.distributions
    assert dist.verdict == Verdict.SAFE
    # The hint in its own code is shown; its test code is not scanned at all.
    assert [(f.kind, f.file) for f in dist.findings] == [("runtime-thread", "fa_static_only/__init__.py")]


def test_a_part_that_refuses_to_be_imported_on_its_own_is_imported_through_what_requires_it(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # Like psycopg_c, which refuses unless psycopg was imported first.
    refuse = "import sys\nif 'fa_parent' not in sys.modules:\n    raise ImportError('import fa_parent first')\n"
    build_wheel(wheels, "fa-binary-part", {"fa_binary_part/__init__.py": refuse})
    build_wheel(wheels, "fa-parent", {"fa_parent/__init__.py": ""}, requires=["fa-binary-part"])

    report = run_audit(
        AuditInput(wheels=tuple(wheels.glob("*.whl"))), workdir=tmp_path / "w", store=MemoryStore(), options=OPTIONS
    )

    found = {d.name: d for d in report.distributions}
    assert found["fa-binary-part"].verdict == Verdict.SAFE
    assert found["fa-binary-part"].imported_with == "what requires it, imported first: fa_parent"
    assert [m.name for m in found["fa-binary-part"].modules] == ["fa_binary_part"]
