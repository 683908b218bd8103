"""The seed dataset: a fresh installation loads it when it is migrated (`serve`, `migrate`), once, and a CLI command
that only keeps results (`forkaudit export` here, as `audit`) does not.

A tiny seed of one unsafe package stands in for the shipped one; the installations are real processes on data
directories of their own.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.core.probe import PROBE_VERSION
from auditor.dataset import export_dataset
from auditor.services import probe_record_store
from tests.probe_results import native_thread, probe_key, probe_result
from tests.service.conftest import (
    START_TIMEOUT,
    Process,
    base_environment,
    free_port,
    http,
    start_process,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def seed(tmp_path: Path, db: None) -> Path:
    """A gzip dataset of one public result, `seedpkg-unsafe` 3.1, made by the real export from a real record."""
    key = dataclasses.replace(probe_key("seedpkg-unsafe", "3.1"), probe_version=PROBE_VERSION)
    result = probe_result("seedpkg-unsafe", "3.1", (native_thread(module="seedpkg_unsafe"),))
    probe_record_store(key=key, result=result, verdict="unsafe")
    text = io.StringIO()
    export_dataset(text)
    path = tmp_path / "seed.jsonl.gz"
    path.write_bytes(gzip.compress(text.getvalue().encode()))
    return path


def _env(data_dir: Path, seed: Path) -> dict[str, str]:
    return base_environment(FORKAUDIT_DATA_DIR=str(data_dir), FORKAUDIT_SEED=str(seed))


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def served(tmp_path: Path, seed: Path) -> Iterator[tuple[str, Process]]:
    port = free_port()
    argv = [sys.executable, "-m", "auditor.cli", "serve", "--port", str(port), "--workers", "1"]
    process = start_process("serve", argv, env=_env(tmp_path / "data", seed), logs=tmp_path)
    try:
        wait_until(
            lambda: "forkaudit is serving" in process.log.read_text(errors="replace") or not process.alive(),
            timeout=START_TIMEOUT,
            what=lambda: f"forkaudit serve\n{process.tail()}",
        )
        assert process.alive(), process.tail()
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop(timeout=60)


def test_a_fresh_installation_served_finds_a_package_of_the_seed(served: tuple[str, Process]):
    url, process = served

    answer = http("GET", f"{url}/api/v1/packages/?q=seedpkg")

    assert answer.status == 200, answer
    [found] = answer.data["results"]
    assert (found["name"], found["verdict"]) == ("seedpkg-unsafe", "unsafe"), found
    assert "loading the seed dataset seed.jsonl.gz" in process.log.read_text()


def test_migrate_loads_the_seed_once_and_a_command_that_only_keeps_results_does_not(tmp_path: Path, seed: Path):
    first = _run("-m", "auditor.project.manage", "migrate", env=_env(tmp_path / "migrated", seed))
    again = _run("-m", "auditor.project.manage", "migrate", env=_env(tmp_path / "migrated", seed))
    exported = _run("-m", "auditor.cli", "export", env=_env(tmp_path / "migrated", seed))
    fresh = _run("-m", "auditor.cli", "export", env=_env(tmp_path / "exported", seed))

    assert first.returncode == again.returncode == exported.returncode == fresh.returncode == 0, first.stderr
    assert "loading the seed dataset" in first.stderr
    assert "loading the seed dataset" not in again.stderr
    assert [line for line in exported.stdout.splitlines() if '"seedpkg-unsafe"' in line]
    # `export` on a fresh data directory migrates it too, but has no use for the seed: nothing to export.
    assert (fresh.stdout.count("\n"), "loading" in fresh.stderr) == (1, False)


def test_a_seed_that_is_not_a_file_stops_start_up_naming_the_variable(tmp_path: Path):
    done = _run("-m", "auditor.cli", "export", env=_env(tmp_path / "data", tmp_path / "missing.jsonl.gz"))

    assert done.returncode == 2
    assert "FORKAUDIT_SEED must be a dataset file or `none`" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.django_db
def test_the_shipped_seed_imports_whole_and_knows_numpy_and_pyarrow():
    from auditor.models import ProbeRecord
    from auditor.seed import default_seed_path, load_seed

    added = load_seed(default_seed_path())

    assert added is not None and added > 1000
    assert load_seed(default_seed_path()) is None  # once
    for name in ("numpy", "pyarrow", "requests"):
        assert ProbeRecord.objects.filter(name=name, origin="index", deep=True).exists(), name
    assert ProbeRecord.objects.filter(name="pyarrow", verdict="unsafe").exists()
