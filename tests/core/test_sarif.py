"""The SARIF renderer (auditor.core.report.sarif): valid SARIF 2.1.0, in the subset GitHub's code scanning reads, one
result per offending distribution at the requirements line that brings it in."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.core.findings import (
    DistributionReport,
    Finding,
    ForkCall,
    ImportFailure,
    RuntimeThread,
    ThreadOnImport,
    Verdict,
)
from auditor.core.inputs import parse_requirements
from auditor.core.inputs.requirements import RequirementOrigin
from auditor.core.report.sarif import render_sarif, repository_path
from tests.core.test_report import (
    HOSTILE_THREAD,
    _distribution,
    caution_telemetry,
    error_broken,
    hostile_distribution,
    make_report,
    safe_requests,
    unsafe_numpy,
)

SCHEMA = Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json"  # the official one: see tests/data/README.md
REQUIREMENTS = {
    "requirements.txt": "# the service\nrequests==2.32.3\n-r base.txt\n\npandas>=2  # data\napp-sdk\n",
    "base.txt": "broken-pkg==0.1\nevil-pkg==6.6.6\n",
}


def origins() -> tuple[RequirementOrigin, ...]:
    return parse_requirements(REQUIREMENTS, main="requirements.txt").origins


def sarif(report=None, **options: Any) -> dict[str, Any]:
    return json.loads(render_sarif(report or make_report(), **options))


def results(report=None, **options: Any) -> list[dict[str, Any]]:
    (run,) = sarif(report, **options)["runs"]
    return run["results"]


def by_distribution(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {result["properties"]["distribution"]: result for result in found}


def line_of(file: str, number: int) -> str:
    return REQUIREMENTS[file].splitlines()[number - 1]


def many_threads() -> DistributionReport:
    """One package whose import starts 36 threads from 12 modules: one problem."""
    threads = tuple(
        ThreadOnImport(f"worker-{i}", False, True, module=f"busy.m{i % 12}", file="busy/m.py", line=i)
        for i in range(1, 37)
    )
    return _distribution("busy", "3.0", Verdict.UNSAFE, threads, paths=(("app-sdk", "busy"),))


def every_kind_of_report():
    return [
        make_report(),
        make_report(hostile_distribution()),
        make_report(safe_requests()),
        make_report(many_threads(), unsafe_numpy(), error_broken()),
        make_report(dataclasses.replace(unsafe_numpy(), suppressed="OPENBLAS_NUM_THREADS=1 is set in production")),
    ]


# validity


def test_every_log_validates_against_the_official_sarif_2_1_0_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)

    for report in every_kind_of_report():
        for given in ((), origins()):
            validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).validate(
                sarif(report, origins=given, information_uri="https://forkaudit.example.com/")
            )


def test_the_schema_check_is_not_vacuous():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    log = sarif(origins=origins())
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0

    with pytest.raises(jsonschema.ValidationError, match="0 is less than the minimum of 1"):
        jsonschema.validators.validator_for(schema)(schema).validate(log)


def test_every_log_has_what_github_code_scanning_requires():
    # docs.github.com, "SARIF support for code scanning": the properties it marks required, and its limits.
    for report in every_kind_of_report():
        log = sarif(report, origins=origins())
        assert log["version"] == "2.1.0" and log["$schema"]
        (run,) = log["runs"]
        rules = run["tool"]["driver"]["rules"]
        assert run["tool"]["driver"]["name"] == "forkaudit"
        for rule in rules:
            assert rule["id"] and len(rule["name"]) <= 255
            assert 0 < len(rule["shortDescription"]["text"]) <= 1024
            assert 0 < len(rule["fullDescription"]["text"]) <= 1024
            assert rule["help"]["text"]
            assert rule["defaultConfiguration"]["level"] in ("note", "warning", "error")
        for result in run["results"]:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
            assert result["message"]["text"]
            assert 1 <= len(result["locations"]) + len(result.get("relatedLocations", ())) <= 10
            assert result["partialFingerprints"]["primaryLocationLineHash"]
            for location in result["locations"]:
                uri = location["physicalLocation"]["artifactLocation"]["uri"]
                assert not uri.startswith(("/", "file:")), "relative to the repository's root"
                assert location["physicalLocation"]["region"]["startLine"] >= 1


def test_the_tool_says_its_version_and_where_to_read_about_it():
    driver = sarif(information_uri="https://forkaudit.example.com/docs/")["runs"][0]["tool"]["driver"]

    assert re.fullmatch(r"\d+\.\d+\.\d+.*", driver["version"])
    assert driver["semanticVersion"] == driver["version"]
    assert driver["informationUri"] == "https://forkaudit.example.com/docs/"


# one result per offending distribution


def test_one_result_per_offending_distribution_however_many_findings_it_has():
    found = results(make_report(many_threads(), unsafe_numpy(), caution_telemetry(), error_broken(), safe_requests()))

    assert [(r["properties"]["distribution"], r["level"]) for r in found] == [
        ("busy", "error"),
        ("numpy", "error"),
        ("broken-pkg", "note"),  # could not be probed: forkaudit cannot tell
        ("telemetry-kit", "warning"),
    ]
    busy = found[0]
    assert busy["message"]["text"].startswith("busy 3.0 (pulled in by app-sdk) leaves Python threads running after")
    assert "(+33 more)" in busy["message"]["text"]
    assert len(busy["properties"]["findings"]) == 36  # all of them, for tools that want them


def test_static_hints_never_raise_a_result_above_note():
    hints: tuple[Finding, ...] = (
        RuntimeThread(call="threading.Thread", scope="function", module="hinted", file="hinted/x.py", line=3),
        ForkCall(call="os.fork", scope="function", module="hinted", file="hinted/y.py", line=9),
    )
    only_hints = _distribution("hinted", "1.0", Verdict.SAFE, hints, direct=True)
    failed = ImportFailure(module="broken_pkg", reason="crash", message="SIGSEGV")
    broken_with_hints = _distribution("broken-pkg", "0.1", Verdict.ERROR, (*hints, failed), direct=True)

    found = results(make_report(only_hints, broken_with_hints), origins=origins())

    assert [(r["properties"]["distribution"], r["level"], r["ruleId"]) for r in found] == [
        ("broken-pkg", "note", "import-error")
    ]
    assert found[0]["message"]["text"].startswith("broken-pkg 0.1 (direct requirement) could not be audited: import")


# where


def test_each_result_is_located_at_the_requirements_line_that_brings_the_package_in():
    found = by_distribution(results(origins=origins()))

    for name, (file, text) in {
        "numpy": ("requirements.txt", "pandas>=2  # data"),  # pandas → numpy: pandas's line
        "telemetry-kit": ("requirements.txt", "app-sdk"),
        "broken-pkg": ("base.txt", "broken-pkg==0.1"),  # a direct requirement in an included file
    }.items():
        (location,) = found[name]["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": file, "uriBaseId": "%SRCROOT%"}
        assert line_of(file, physical["region"]["startLine"]) == text


def test_where_the_thread_starts_in_site_packages_is_a_related_location():
    telemetry = by_distribution(results(origins=origins()))["telemetry-kit"]

    (started,) = telemetry["relatedLocations"]
    assert started["physicalLocation"] == {
        "artifactLocation": {"uri": "site-packages/telemetry_kit/agent.py", "uriBaseId": "SITE_PACKAGES"},
        "region": {"startLine": 12},
    }
    assert "not in this repository" in started["message"]["text"]


def test_the_other_requirements_that_bring_it_in_are_related_locations():
    numpy = dataclasses.replace(unsafe_numpy(), paths=(("pandas", "numpy"), ("app-sdk", "numpy")))

    (result,) = results(make_report(numpy), origins=origins())

    assert line_of("requirements.txt", result["locations"][0]["physicalLocation"]["region"]["startLine"]) == (
        "pandas>=2  # data"
    )
    also, started = result["relatedLocations"]
    assert line_of("requirements.txt", also["physicalLocation"]["region"]["startLine"]) == "app-sdk"
    assert also["message"]["text"] == "also brought in by app-sdk"
    assert started["logicalLocations"][0]["name"] == "numpy._core._multiarray_umath"  # a native thread: its module
    assert [also["id"], started["id"]] == [1, 2]


def test_without_requirement_lines_the_package_is_named_instead():
    (numpy,) = results(make_report(unsafe_numpy()))

    assert numpy["locations"] == [
        {"logicalLocations": [{"name": "numpy", "fullyQualifiedName": "numpy==2.4.6", "kind": "package"}]}
    ]


def test_repository_path_is_relative_to_the_git_root_else_the_current_directory(tmp_path):
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "deploy").mkdir()
    (repository / "deploy" / "requirements.txt").write_text("x\n")
    (tmp_path / "elsewhere.txt").write_text("x\n")
    (tmp_path / "link.txt").symlink_to(repository / "deploy" / "requirements.txt")

    inside = repository_path(repository / "deploy" / "requirements.txt", cwd=repository / "deploy")
    outside = repository_path(tmp_path / "elsewhere.txt", cwd=tmp_path / "repo")

    assert inside == "deploy/requirements.txt"
    assert repository_path(tmp_path / "link.txt", cwd=tmp_path) == "deploy/requirements.txt"  # where it really is
    assert repository_path(tmp_path / "elsewhere.txt", cwd=tmp_path) == "elsewhere.txt"
    assert outside == (tmp_path / "elsewhere.txt").resolve().as_uri()


# the fix


def test_a_verified_mitigation_is_the_rule_and_the_first_sentence():
    log = sarif(make_report(unsafe_numpy()), origins=origins())
    (result,) = log["runs"][0]["results"]
    rule = log["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]

    assert result["ruleId"] == rule["id"] == "thread-on-import/OPENBLAS_NUM_THREADS=1"
    assert "OPENBLAS_NUM_THREADS=1" in rule["shortDescription"]["text"]
    assert "Fix: set OPENBLAS_NUM_THREADS=1 in the environment" in rule["help"]["text"]
    first_sentence = result["message"]["text"].split(". ")[0]
    assert first_sentence == (
        "numpy 2.4.6 (pulled in by pandas) leaves a native thread running after import; "
        "fix: set OPENBLAS_NUM_THREADS=1 before the import (verified)"
    )
    assert result["properties"]["verifiedFix"] == ["OPENBLAS_NUM_THREADS=1"]


def test_without_a_verified_mitigation_the_fix_is_to_import_after_the_fork():
    telemetry = by_distribution(results())["telemetry-kit"]  # its mitigation is not verified

    assert telemetry["ruleId"] == "thread-on-import"
    assert "fix: import it after the fork" in telemetry["message"]["text"]
    assert "TELEMETRY_KIT_DISABLED" not in telemetry["message"]["text"]


# fingerprints


def test_the_same_finding_keeps_its_fingerprint_across_runs_versions_and_lines():
    first = by_distribution(results(origins=origins()))["numpy"]["partialFingerprints"]
    moved = tuple(dataclasses.replace(o, line=o.line + 7) for o in origins())
    upgraded = dataclasses.replace(unsafe_numpy(), version="2.5.0")
    again = results(make_report(upgraded, safe_requests()), origins=moved)[0]["partialFingerprints"]

    assert again == first
    assert set(first) == {"forkaudit/v1", "primaryLocationLineHash"}


def test_different_findings_have_different_fingerprints():
    found = results(make_report(unsafe_numpy(), caution_telemetry(), error_broken(), many_threads()), origins=origins())

    fingerprints = [r["partialFingerprints"]["primaryLocationLineHash"] for r in found]
    assert len(set(fingerprints)) == len(fingerprints) == 4


# what the project says and what packages say


def test_a_suppressed_distribution_is_a_suppressed_result_with_the_reason():
    suppressed = dataclasses.replace(unsafe_numpy(), suppressed="set in production")

    (result,) = results(make_report(suppressed))

    assert result["suppressions"] == [{"kind": "external", "status": "accepted", "justification": "set in production"}]


def test_hostile_names_are_cleaned_in_messages_and_kept_raw_in_properties():
    (result,) = results(make_report(hostile_distribution()))

    assert "\x1b" not in result["message"]["text"]
    assert "\u202e" not in result["message"]["text"]
    assert result["properties"]["findings"][0]["thread"] == HOSTILE_THREAD


def test_the_run_carries_the_headline_and_the_fix():
    run = sarif(make_report(unsafe_numpy(), safe_requests()))["runs"][0]

    assert run["properties"]["headline"] == (
        "numpy 2.4.6 (pulled in by pandas) leaves a native thread running after import — "
        "fix: OPENBLAS_NUM_THREADS=1 (verified)"
    )
    assert run["properties"]["fix"] == {"env": {"OPENBLAS_NUM_THREADS": "1"}, "fixed": ["numpy"], "unfixed": []}
