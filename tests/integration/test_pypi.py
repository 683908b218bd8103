"""Real packages from PyPI (marked `network`: they need the package index; CI runs them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.core.environments import create_environment, file_owners, install, installed_distributions
from auditor.core.findings import ForkTrial, ThreadOnImport, Verdict
from auditor.core.pipeline import AuditInput, AuditOptions, build_environment, resolve_input
from auditor.core.probe import ProbeOptions, probe_distribution
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.sandbox import sandbox_for
from auditor.core.resolve import ResolutionError, resolve
from auditor.core.verdicts import probe_verdict

pytestmark = pytest.mark.network


def test_probe_names_numpys_openblas_thread_verifies_its_knobs_and_sees_openblas_stop_it_at_fork(tmp_path: Path):
    env = create_environment(tmp_path / "env", python="/usr/bin/python3.11")
    install(env, requirements=["numpy"])
    dists = installed_distributions(env)
    [numpy] = [d for d in dists if d.name == "numpy"]

    result = probe_distribution(
        numpy,
        env=env,
        attributor=Attributor(file_owners(env, dists), env.site_packages),
        sandbox=sandbox_for("bwrap"),
        options=ProbeOptions(shallow=True),
    )

    threads = [f for f in result.findings if isinstance(f, ThreadOnImport) and f.alive_after_import]
    assert threads, result.to_dict()
    assert all(t.native for t in threads)
    assert all((t.module or "").startswith("numpy.") for t in threads)
    # Named by the library its stack runs in, which numpy's wheel bundles: OpenBLAS, blamed on numpy.
    assert {t.library for t in threads} == {"OpenBLAS"}
    assert all((t.library_file or "").startswith("numpy.libs/libscipy_openblas") for t in threads)
    assert {json.dumps(t.mitigation, sort_keys=True) for t in threads} == {
        json.dumps(
            {"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True, "alternatives": [{"OMP_NUM_THREADS": "1"}]},
            sort_keys=True,
        )
    }
    # OpenBLAS stops its pool in a native at-fork handler: the fork trial sees it, and the child runs.
    assert {t.at_fork for t in threads} == {"stopped"}
    assert result.fork_aware
    [trial] = [f for f in result.findings if isinstance(f, ForkTrial)]
    assert trial.child == "ok"
    assert probe_verdict(result) == Verdict.CAUTION


def test_audit_blames_numpy_not_pandas_and_gives_the_path(forkaudit, tmp_path: Path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pandas\n")

    done = forkaudit("audit", "-r", str(requirements), "--shallow", "--format", "json")

    assert done.returncode == 0, done.stderr  # numpy's thread is stopped by OpenBLAS at fork: caution
    report = json.loads(done.stdout)
    dists = {d["name"]: d for d in report["distributions"]}
    numpy, pandas = dists["numpy"], dists["pandas"]
    assert numpy["verdict"] == "caution"
    assert numpy["direct"] is False
    assert ["pandas", "numpy"] in numpy["paths"]
    assert any(f["kind"] == "thread-on-import" and f["native"] and f["alive_after_import"] for f in numpy["findings"])
    assert pandas["verdict"] != "unsafe"
    assert not [f for f in pandas["findings"] if f["kind"] == "thread-on-import"]


def test_pyarrow_and_numexpr_threads_survive_a_fork_and_one_line_of_verified_variables_stops_them(forkaudit, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pyarrow\nnumexpr\n")

    done = forkaudit("audit", "-r", str(requirements), "--shallow", "--format", "json")

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    dists = {d["name"]: d for d in report["distributions"]}
    [jemalloc] = [f for f in dists["pyarrow"]["findings"] if f["kind"] == "thread-on-import"]
    assert (jemalloc["thread"], jemalloc["library"], jemalloc["at_fork"]) == ("jemalloc_bg_thd", "jemalloc", "survived")
    assert jemalloc["mitigation"]["env"] == {"JE_ARROW_MALLOC_CONF": "background_thread:false"}
    [workers] = [f for f in dists["numexpr"]["findings"] if f["kind"] == "thread-on-import"]
    assert workers["count"] == 2 and workers["at_fork"] == "survived"
    assert {"OMP_NUM_THREADS": "1"} in [workers["mitigation"]["env"], *workers["mitigation"]["alternatives"]]
    # One variable each (numpy, which both pull in, is only caution: OpenBLAS stops its pool at fork).
    fix = report["fix"]["env"]
    assert len(fix) == 2 and fix["JE_ARROW_MALLOC_CONF"] == "background_thread:false"
    assert {k: v for k, v in fix.items() if k != "JE_ARROW_MALLOC_CONF"} == workers["mitigation"]["env"]
    assert set(report["fix"]["fixed"]) == {"pyarrow", "numexpr"}
    assert dists["numpy"]["verdict"] == "caution"


def test_audit_reports_an_unknown_package_as_bad_input(forkaudit, tmp_path: Path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("forkaudit-surely-no-such-package-4711\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert "forkaudit-surely-no-such-package-4711" in done.stderr
    assert "Traceback" not in done.stderr


def test_audit_reports_an_unsatisfiable_pin_as_bad_input(forkaudit, tmp_path: Path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==0.0.1\n")

    done = forkaudit("audit", "-r", str(requirements))

    assert done.returncode == 2
    assert "six" in done.stderr
    assert "cannot be resolved" in done.stderr


DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers, so every request to the index fails


def without_index(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(variable, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("UV_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")


def test_a_lock_seen_before_resolves_without_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lock = ["six==1.17.0", "python-dateutil==2.9.0.post0"]
    first = resolve(lock, python=Path("/usr/bin/python3.11"), workdir=tmp_path)  # fills uv's cache

    without_index(monkeypatch)
    again = resolve(lock, python=Path("/usr/bin/python3.11"), workdir=tmp_path)

    assert again == first
    assert again.pins == {"six": "1.17.0", "python-dateutil": "2.9.0.post0"}
    assert again.edges == {("python-dateutil", "six")}


def test_a_lock_seen_before_installs_without_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lock = ("six==1.17.0", "python-dateutil==2.9.0.post0")
    options = AuditOptions(python="/usr/bin/python3.11")
    first = resolve_input(AuditInput(requirements=lock), workdir=tmp_path / "first", options=options)
    build_environment(first, workdir=tmp_path / "first", options=options)  # uv's cache now holds both wheels

    without_index(monkeypatch)
    again = resolve_input(AuditInput(requirements=lock), workdir=tmp_path / "again", options=options)
    prepared = build_environment(again, workdir=tmp_path / "again", options=options)

    assert prepared.install_errors == {}
    assert {d.name: d.version for d in prepared.distributions} == {"six": "1.17.0", "python-dateutil": "2.9.0.post0"}


@pytest.mark.parametrize(
    "requirements",
    [
        ["six>=1.16"],  # not a lock: a newer release may have come out
        ["python-dateutil==2.9.0.post0"],  # not a whole lock: six is not pinned
    ],
)
def test_anything_but_a_whole_lock_asks_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requirements):
    resolve(requirements, python=Path("/usr/bin/python3.11"), workdir=tmp_path)  # in uv's cache, all the same

    without_index(monkeypatch)
    with pytest.raises(ResolutionError):
        resolve(requirements, python=Path("/usr/bin/python3.11"), workdir=tmp_path)


def test_a_set_with_a_source_only_dependency_audits_by_default(tmp_path: Path):
    # instana requires fysom, which PyPI has only as a source distribution: it is built in the sandbox.
    from auditor.core.cache import MemoryStore
    from auditor.core.pipeline import run_audit

    options = AuditOptions(python="/usr/bin/python3.11", shallow=True)

    report = run_audit(AuditInput(requirements=("instana",)), workdir=tmp_path, store=MemoryStore(), options=options)

    found = {d.name: d for d in report.distributions}
    assert (found["fysom"].built_from_source, found["fysom"].verdict) == (True, Verdict.SAFE)
    assert found["instana"].verdict == Verdict.UNSAFE
    assert not found["instana"].built_from_source


def test_a_django_plugin_that_needs_settings_is_probed_in_a_configured_project(tmp_path: Path):
    from tests.wheelfactory import build_wheel

    plugin = build_wheel(
        tmp_path,
        "fa-django-plugin",
        {"fa_django_plugin/__init__.py": "from django.conf import settings\nPAGE = getattr(settings, 'FA_PAGE', 10)\n"},
        requires=["django"],
    )
    # Its package imports on its own; only its views need the configured project (django-debug-toolbar's panels).
    views = build_wheel(
        tmp_path,
        "fa-django-views",
        {
            "fa_django_views/__init__.py": "",
            "fa_django_views/views.py": "from django.conf import settings\nDEBUG = settings.DEBUG\n",
        },
        requires=["django"],
    )
    env = create_environment(tmp_path / "env", python="/usr/bin/python3.11")
    install(env, requirements=["django<6", "django-timezone-field==7.1"], wheels=[plugin, views])
    dists = installed_distributions(env)
    attributor = Attributor(file_owners(env, dists), env.site_packages)

    for name in ("fa-django-plugin", "django-timezone-field", "fa-django-views"):
        [dist] = [d for d in dists if d.name == name]
        result = probe_distribution(
            dist, env=env, attributor=attributor, sandbox=sandbox_for("bwrap"), options=ProbeOptions(shallow=False)
        )

        assert probe_verdict(result) == Verdict.SAFE, result.to_dict()
        assert "settings.configure()" in result.imported_with
        assert all(m.status == "ok" for m in result.modules if m.name.startswith("fa_django_views")), result.modules


def test_psycopg_binary_is_imported_through_psycopg_not_reported_as_an_error(tmp_path: Path):
    from auditor.core.cache import MemoryStore
    from auditor.core.pipeline import run_audit

    options = AuditOptions(python="/usr/bin/python3.11", shallow=True)

    report = run_audit(
        AuditInput(requirements=("psycopg[binary]==3.2.10",)), workdir=tmp_path, store=MemoryStore(), options=options
    )

    binary = next(d for d in report.distributions if d.name == "psycopg-binary")
    assert binary.verdict == Verdict.SAFE
    assert binary.imported_with == "what requires it, imported first: psycopg"
