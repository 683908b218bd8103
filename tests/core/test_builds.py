"""Source distributions are built in the sandbox, by default, and a build that fails is one `error`, not a failed
audit. The sdists are made by the tests, with an in-tree build backend, so no network is needed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from auditor.core import builds
from auditor.core.cache import MemoryStore
from auditor.core.findings import Verdict
from auditor.core.pipeline import AuditInput, AuditOptions, run_audit
from auditor.core.resolve import ResolutionError
from tests.wheelfactory import build_sdist, build_wheel

OPTIONS = AuditOptions(use_index=False, timeout=10, python="/usr/bin/python3.11")
THREAD = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"


def source_set(directory: Path, **sdist_options) -> AuditInput:
    """fa-app (a wheel) requires fa-src, which exists only as a source distribution whose import starts a thread."""
    wheels, sources = directory / "wheels", directory / "sources"
    wheels.mkdir()
    sources.mkdir()
    app = build_wheel(wheels, "fa-app", {"fa_app/__init__.py": "import fa_src\n"}, requires=["fa-src"])
    build_sdist(sources, "fa-src", {"fa_src/__init__.py": THREAD}, **sdist_options)
    return AuditInput(wheels=(app,), sources=(sources,))


def audit(tmp_path: Path, audit_input: AuditInput, options: AuditOptions = OPTIONS) -> dict:
    report = run_audit(audit_input, workdir=tmp_path / "work", store=MemoryStore(), options=options)
    return {d.name: d for d in report.distributions}


def test_a_dependency_without_a_wheel_is_built_in_the_sandbox_and_probed(tmp_path):
    found = audit(tmp_path, source_set(tmp_path))

    assert (found["fa-src"].verdict, found["fa-src"].built_from_source) == (Verdict.UNSAFE, True)
    assert found["fa-src"].paths == (("fa-app", "fa-src"),)
    assert (found["fa-app"].verdict, found["fa-app"].built_from_source) == (Verdict.SAFE, False)
    assert found["fa-src"].to_dict()["built_from_source"] is True


def test_a_build_that_fails_is_that_distributions_error_and_the_rest_is_audited(tmp_path):
    audit_input = source_set(tmp_path, before_build="raise SystemExit('no compiler for the flux capacitor')")

    found = audit(tmp_path, audit_input)

    assert found["fa-src"].verdict == Verdict.ERROR
    [failure] = [f for f in found["fa-src"].findings if f.kind == "import-error"]
    assert "no compiler for the flux capacitor" in failure.message
    [app] = found["fa-app"].modules  # installed and probed: its own import needs what could not be built
    assert app.error == "ModuleNotFoundError: No module named 'fa_src'"


def test_no_build_keeps_binary_wheels_only(tmp_path):
    options = dataclasses.replace(OPTIONS, build=False)

    with pytest.raises(ResolutionError, match="fa-src"):
        audit(tmp_path, source_set(tmp_path), options)


def test_a_build_that_makes_a_wheel_of_another_name_is_that_distributions_error(tmp_path):
    audit_input = source_set(tmp_path, before_build="NAME = 'something-else'")

    found = audit(tmp_path, audit_input)

    assert found["fa-src"].verdict == Verdict.ERROR
    [failure] = [f for f in found["fa-src"].findings if f.kind == "import-error"]
    assert "not a wheel of fa-src 1.0" in failure.message
    assert "fa-app" in found


def test_a_build_writes_nothing_of_the_hosts_and_is_held_to_its_tmp_size(tmp_path, monkeypatch):
    monkeypatch.setattr(builds, "BUILD_LIMITS", dataclasses.replace(builds.BUILD_LIMITS, tmp_bytes=64 * 2**20))
    hog = "for i in range(3):\n    open(f'hog{i}', 'wb').write(b'x' * (40 << 20))\n"

    found = audit(tmp_path, source_set(tmp_path, before_build=hog))

    assert found["fa-src"].verdict == Verdict.ERROR  # out of space in its /tmp
    written = [p.stat().st_size for p in (tmp_path / "work").rglob("*") if p.is_file()]
    assert max(written) < 40 << 20


def test_build_requirements_come_from_where_the_audits_distributions_come_from(tmp_path):
    audit_input = source_set(tmp_path)
    pyproject = '[build-system]\nrequires = ["fa-build-helper"]\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    _rewrite_member(next(audit_input.sources[0].glob("*.tar.gz")), "pyproject.toml", pyproject)
    build_wheel(audit_input.sources[0], "fa-build-helper", {"fa_build_helper/__init__.py": ""})

    found = audit(tmp_path, audit_input)  # use_index=False: only the audit's directories

    assert (found["fa-src"].verdict, found["fa-src"].built_from_source) == (Verdict.UNSAFE, True)


def test_a_build_requirement_that_is_nowhere_but_on_the_index_is_not_fetched_without_it(tmp_path):
    audit_input = source_set(tmp_path)
    sdist = next(audit_input.sources[0].glob("*.tar.gz"))
    pyproject = (
        '[build-system]\nrequires = ["fa-only-on-some-index"]\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    _rewrite_member(sdist, "pyproject.toml", pyproject)

    found = audit(tmp_path, audit_input)

    [failure] = [f for f in found["fa-src"].findings if f.kind == "import-error"]
    assert "build requirements cannot be installed" in failure.message
    assert "registry" not in failure.message  # uv did not ask the index (--no-index)


def _rewrite_member(sdist: Path, name: str, text: str) -> None:
    import io
    import tarfile

    with tarfile.open(sdist) as archive:
        members = [(info, archive.extractfile(info).read()) for info in archive.getmembers()]
    with tarfile.open(sdist, "w:gz") as archive:
        for info, data in members:
            if info.name.endswith("/" + name):
                data = text.encode()
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
