"""docs/report.schema.json, the contract of the JSON report: every report the tests build, and a real audit's, fits it.

The published schema is open (readers must accept fields a later forkaudit adds). Here it is also checked closed:
every object may hold only the fields the schema declares, and a finding only a kind it lists, so that a field or
kind added to `to_dict()` without the schema (and docs/report-schema.md) fails this test.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.core.findings import (
    FINDING_TYPES,
    AtforkHandler,
    AuditReport,
    DistributionReport,
    Environment,
    ForkCall,
    ForkTrial,
    ImportFailure,
    ModuleOutcome,
    ModuleStatus,
    ProcessOnImport,
    RuntimeThread,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
    Vulnerability,
)
from auditor.core.report.baseline import compare
from auditor.core.report.json_format import render_json
from tests.wheelfactory import build_wheel

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text())


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with no room for undeclared fields or finding kinds."""
    strict = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node and "allOf" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(strict)
    strict["$defs"]["finding"] = {"oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in finding_kinds(schema)]}
    return strict


def finding_kinds(schema: dict[str, Any]) -> list[str]:
    return [branch["then"]["$ref"].rsplit("/", 1)[1] for branch in schema["$defs"]["finding"]["allOf"]]


OPEN = jsonschema.Draft202012Validator(SCHEMA)
CLOSED = jsonschema.Draft202012Validator(closed(SCHEMA))


def assert_fits(report: dict[str, Any]) -> None:
    """Fits the published schema and the closed one; the message names the first field that does not."""
    for validator in (OPEN, CLOSED):
        error = jsonschema.exceptions.best_match(validator.iter_errors(report))
        assert error is None, f"{'/'.join(map(str, error.absolute_path))}: {error.message}"


def rejected(report: dict[str, Any], validator: jsonschema.Draft202012Validator = OPEN) -> str:
    error = jsonschema.exceptions.best_match(validator.iter_errors(report))
    assert error is not None, "the schema accepted it"
    return error.message


# The schema itself


def test_the_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator.check_schema(closed(SCHEMA))


def test_the_schema_lists_every_finding_kind_and_every_field_of_each():
    assert sorted(finding_kinds(SCHEMA)) == sorted(FINDING_TYPES)
    for kind, cls in FINDING_TYPES.items():
        declared = set(SCHEMA["$defs"][kind]["properties"])
        fields = {"kind"} | {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        assert fields <= declared, f"{kind}: {sorted(fields - declared)} missing from docs/report.schema.json"
        assert SCHEMA["$defs"][kind]["properties"]["kind"] == {"const": kind}


# Every report the tests build


def report_builders() -> dict[str, Callable[..., AuditReport]]:
    """Every function in tests/ that returns an AuditReport, by `module.function`."""
    found = {}
    for path in sorted((REPO / "tests").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.returns is not None:
                if ast.unparse(node.returns) in ("AuditReport", "'AuditReport'") and module != __name__:
                    found[f"{module}.{node.name}"] = getattr(importlib.import_module(module), node.name)
    return found


def takes_no_arguments(function: Callable[..., object]) -> bool:
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in inspect.signature(function).parameters.values()
    )


def more_reports_of_the_builders() -> dict[str, Callable[[], AuditReport]]:
    """Builders called with arguments: the variants the tests use, and those that need arguments."""
    from tests.core import test_config, test_fixes, test_report
    from tests.test_services import _report as services_report
    from tests.webui.reports import pandas_report

    thread, distribution = test_fixes.thread, test_fixes.distribution
    fixes = (
        distribution("numpy", Verdict.UNSAFE, thread(test_fixes.OPENBLAS, test_fixes.OMP)),
        distribution("guess", Verdict.UNSAFE, thread(test_fixes.JEMALLOC, verified=False)),
        distribution("spawner", Verdict.UNSAFE, ProcessOnImport(command="x", alive_after_import=True, module="s")),
        distribution("accepted", Verdict.UNSAFE, thread(test_fixes.NUMEXPR), suppressed="we never fork"),
        distribution("requests", Verdict.SAFE),
    )
    return {
        "tests.core.test_report.make_report (hostile, errors)": lambda: test_report.make_report(
            test_report.hostile_distribution(), test_report.safe_requests(), errors=("pip-audit: unreachable",)
        ),
        "tests.webui.reports.pandas_report (suppressed, hostile)": lambda: pandas_report(
            thread=test_report.HOSTILE_THREAD, suppressed="we never fork"
        ),
        "tests.core.test_fixes.report (fixed and not)": lambda: test_fixes.report(*fixes),
        "tests.core.test_config.report (two)": lambda: test_config.report(
            ("numpy", "2.4.6", Verdict.UNSAFE), ("requests", "2.32.3", Verdict.SAFE)
        ),
        **{f"tests.test_services._report ({v})": (lambda v=v: services_report(v)) for v in Verdict},
    }


def reports_of_the_test_builders() -> dict[str, Callable[[], AuditReport]]:
    plain = {name: builder for name, builder in report_builders().items() if takes_no_arguments(builder)}
    return {**plain, **more_reports_of_the_builders()}


def test_every_report_builder_of_the_tests_is_checked_here():
    checked = {name.split(" (")[0] for name in reports_of_the_test_builders()}
    builders = set(report_builders())

    assert len(builders) >= 8
    assert builders <= checked, f"{sorted(builders - checked)} need arguments: add them to more_reports_of_the_builders"


@pytest.mark.parametrize("name", sorted(reports_of_the_test_builders()))
def test_the_reports_the_tests_build_fit_the_schema(name):
    assert_fits(json.loads(render_json(reports_of_the_test_builders()[name]())))


def full_report() -> AuditReport:
    """A report with every finding kind and every field set: each added field of forkaudit-report/1."""
    blas = ThreadOnImport(
        thread="python",
        native=True,
        alive_after_import=True,
        module="numpy._core._multiarray_umath",
        stack=("numpy/__init__.py:130 in <module>",),
        count=2,
        mitigation={
            "env": {"OPENBLAS_NUM_THREADS": "1"},
            "verified": True,
            "alternatives": [{"OMP_NUM_THREADS": "1"}],
        },
        library="OpenBLAS",
        library_file="numpy.libs/libscipy_openblas64_-ff651d7f.so",
        at_fork="stopped",
    )
    flusher = ThreadOnImport(
        thread="flusher",
        native=False,
        alive_after_import=True,
        module="agent",
        daemon=True,
        file="agent/__init__.py",
        line=3,
        unexplained=True,
        at_fork="survived",
    )
    findings = (
        blas,
        flusher,
        ForkTrial(child="ok", stopped=2, survived=1, seconds=0.02),
        ProcessOnImport(command="ldconfig -p", alive_after_import=False, module="agent.gis", count=3),
        SocketOnImport(family="AF_INET", open_after_import=True, module="agent", address="10.0.0.1:443"),
        AtforkHandler(module="agent", hooks=("after_in_child",), file="agent/fork.py", line=9, static=True),
        RuntimeThread(call="threading.Timer", scope="class", module="agent.timer", file="agent/timer.py", line=4),
        ForkCall(call="os.fork", scope="function", module="agent.worker", file="agent/worker.py", line=20),
        ImportFailure(module="agent.crashy", reason="crash", message="killed by signal 11", top_level=False),
        Vulnerability(id="PYSEC-2024-1", description="bad", aliases=("CVE-2024-1",), fix_versions=("2.0",)),
    )
    agent = DistributionReport(
        name="agent",
        version="1.0",
        direct=True,
        verdict=Verdict.UNSAFE,
        fork_aware=True,
        paths=(("agent",), ("app", "agent")),
        modules=(
            ModuleOutcome("agent", ModuleStatus.OK, 0.25),
            ModuleOutcome("agent.crashy", ModuleStatus.CRASH, 0.1, top_level=False, error="killed by signal 11"),
            ModuleOutcome("agent.late", ModuleStatus.SKIPPED, top_level=False),
        ),
        findings=findings,
        built_from_source=True,
        imported_with="what requires it, imported first: app",
    )
    plugin = DistributionReport(
        name="django-plugin",
        version="3.0",
        direct=False,
        verdict=Verdict.ERROR,
        fork_aware=False,
        paths=(("app", "django-plugin"),),
        modules=(),
        findings=(ImportFailure(module=None, reason="install", message="build failed"),),
        cached=True,
        suppressed="not imported in production",
    )
    return AuditReport(
        verdict=Verdict.UNSAFE,
        environment=Environment("3.11.7", "linux-x86_64", "bwrap"),
        distributions=(agent, plugin),
        errors=("the vulnerability service could not be reached",),
    )


def test_a_report_with_every_kind_and_field_fits_the_schema():
    report = json.loads(render_json(full_report()))

    assert report["fix"] == {"env": {"OPENBLAS_NUM_THREADS": "1"}, "fixed": [], "unfixed": ["agent"]}
    assert {f["kind"] for f in report["distributions"][0]["findings"]} == set(FINDING_TYPES)
    assert_fits(report)


def test_a_report_compared_with_a_baseline_fits_the_schema():
    from tests.core.test_report import error_broken, unsafe_numpy

    full = full_report()
    current = dataclasses.replace(full, distributions=(*full.distributions, error_broken()))
    baseline = dataclasses.replace(full, distributions=(full.distributions[0], unsafe_numpy()))
    comparison = compare(current, baseline)

    assert comparison.new and comparison.known and comparison.fixed
    assert_fits(json.loads(render_json(current, baseline=comparison)))


def test_the_example_of_docs_report_schema_md_fits_the_published_schema():
    # A reader's view of an older report: the fields of the first forkaudit-report/1, without those added since.
    text = (REPO / "docs" / "report-schema.md").read_text()
    example = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])

    assert OPEN.is_valid(example)


# What the schema refuses


def test_the_schema_refuses_what_breaks_the_contract():
    report = json.loads(render_json(full_report()))

    assert rejected({**report, "schema": "forkaudit-report/2"}) == "'forkaudit-report/1' was expected"
    assert "'maybe' is not one of" in rejected({**report, "verdict": "maybe"})
    without_version = {k: v for k, v in report["distributions"][0].items() if k != "version"}
    assert rejected({**report, "distributions": [without_version]}) == "'version' is a required property"
    thread = {**report["distributions"][0]["findings"][0], "at_fork": "paused"}
    broken = {**report["distributions"][0], "findings": [thread]}
    assert "'paused' is not one of" in rejected({**report, "distributions": [broken]})


def test_the_closed_schema_refuses_an_undeclared_field_or_kind():
    report = json.loads(render_json(full_report()))
    agent = report["distributions"][0]

    extra_field = {**agent, "findings": [{**agent["findings"][0], "priority": 1}]}
    assert OPEN.is_valid({**report, "distributions": [extra_field]})  # readers accept what a later version adds
    assert not CLOSED.is_valid({**report, "distributions": [extra_field]})
    new_kind = {**agent, "findings": [{"kind": "thread-on-exit"}]}
    assert OPEN.is_valid({**report, "distributions": [new_kind]})
    assert not CLOSED.is_valid({**report, "distributions": [new_kind]})
    assert not CLOSED.is_valid({**report, "verdict_reason": "x"})


# A real audit


@pytest.fixture
def wheels_of_every_behaviour(tmp_path: Path) -> Path:
    """Distributions that each do one thing on import that the report records."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    sources = {
        "fa-app": "import fa_telemetry, fa_clean\n",
        "fa-telemetry": """
            import threading, time
            threading.Thread(target=time.sleep, args=(60,), name="fa-flusher", daemon=True).start()
        """,
        "fa-blip": """
            import threading
            thread = threading.Thread(target=lambda: None, name="fa-blip")
            thread.start()
            thread.join()
        """,
        "fa-spawner": "import subprocess\nCHILD = subprocess.Popen(['sleep', '60'])\n",
        "fa-socket": "import socket\nSOCKET = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n",
        "fa-forkaware": "import os\nos.register_at_fork(after_in_child=lambda: None)\n",
        "fa-broken": "raise RuntimeError('fa-broken refuses to be imported')\n",
        "fa-clean": """
            import os, threading
            def later():
                threading.Thread(target=print).start()
            def worker():
                os.fork()
        """,
    }
    for name, source in sources.items():
        requires = ["fa-telemetry", "fa-clean"] if name == "fa-app" else []
        build_wheel(wheels, name, {f"{name.replace('-', '_')}/__init__.py": source}, requires=requires)
    return wheels


def test_a_real_audits_json_report_fits_the_schema(forkaudit, wheels_of_every_behaviour, monkeypatch, tmp_path):
    monkeypatch.setenv("FORKAUDIT_VULNERABILITY_SERVICE", "none")

    done = forkaudit("audit", "--wheels", str(wheels_of_every_behaviour), "--no-index", "--format", "json")

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    verdicts = {d["name"]: d["verdict"] for d in report["distributions"]}
    assert verdicts == {
        "fa-telemetry": "unsafe",
        "fa-spawner": "unsafe",
        "fa-broken": "error",
        "fa-blip": "caution",
        "fa-socket": "caution",
        "fa-forkaware": "safe",
        "fa-clean": "safe",
        "fa-app": "safe",
    }
    kinds = {f["kind"] for d in report["distributions"] for f in d["findings"]}
    assert kinds >= set(FINDING_TYPES) - {"vulnerability"}
    assert_fits(report)

    (tmp_path / "main.json").write_text(done.stdout)
    again = forkaudit(
        "audit",
        "--wheels",
        str(wheels_of_every_behaviour),
        "--no-index",
        "--format",
        "json",
        "--baseline",
        str(tmp_path / "main.json"),
    )

    assert again.returncode == 0, again.stderr  # nothing new
    compared = json.loads(again.stdout)
    assert compared["baseline"]["known"] and not compared["baseline"]["new"]
    assert_fits(compared)
