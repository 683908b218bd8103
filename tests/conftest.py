"""Test session set-up: Django with auditor.project.settings on a throw-away data directory.

Everything is configured here rather than in pyproject.toml: pytest-django would load the settings before this file
runs, and they must never see (or write a secret key into) the developer's real data directory. `DATABASE_URL` is
left alone, so `DATABASE_URL=postgres://... pytest -m django_db` runs the database tests against PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_DATA_DIR_KEY = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    data_dir = tempfile.mkdtemp(prefix="forkaudit-test-")
    config.stash[_DATA_DIR_KEY] = data_dir
    os.environ["FORKAUDIT_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "auditor.project.settings"
    # The tests' many fresh databases (and the processes they start) do without the seed dataset; its own tests
    # name a file.
    os.environ["FORKAUDIT_SEED"] = "none"
    # pytest-django finishes its set-up in its own (later) pytest_configure only if Django is already set up.
    import django

    django.setup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of what only PostgreSQL does are left out of a run on SQLite (scripts/test runs them on PostgreSQL)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    postgresql_only = [item for item in items if item.get_closest_marker("postgresql")]
    if postgresql_only:
        config.hook.pytest_deselected(items=postgresql_only)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


def pytest_unconfigure(config: pytest.Config) -> None:
    from auditor.core.cleanup import wait_for_deletions

    wait_for_deletions(timeout=60)  # work directories the tests discarded: their `rm` must not outlive pytest
    data_dir = config.stash.get(_DATA_DIR_KEY, None)
    if data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)


# The triggers that change the results' version on PostgreSQL, deferred to the commit (migration 0011).
RESULTS_VERSION_TRIGGERS = ("auditor_proberecord_changed", "auditor_proberecord_deleted", "auditor_proberecord_renamed")


@pytest.fixture(autouse=True)
def _results_version_after_each_statement(request: pytest.FixtureRequest) -> None:
    """In a database test run in a transaction that is never committed (`django_db` without `transaction=True`), the
    results' version changes after each statement that writes results, as it changes at each commit outside the
    tests: on PostgreSQL its triggers fire at commit, which never comes."""
    if request.node.get_closest_marker("django_db") is None and "db" not in request.fixturenames:
        return
    request.getfixturevalue("db")
    from django.db import connection

    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {', '.join(RESULTS_VERSION_TRIGGERS)} IMMEDIATE")


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    """Owns audits and private wheel results."""
    return django_user_model.objects.create_user(username="alice")


@pytest.fixture
def bob(django_user_model: type[User]) -> User:
    """Another user, with private results of his own: must not see alice's."""
    return django_user_model.objects.create_user(username="bob")


@pytest.fixture
def charlie(django_user_model: type[User]) -> User:
    """Has nothing of his own and must see nothing private."""
    return django_user_model.objects.create_user(username="charlie")


@pytest.fixture
def sam(django_user_model: type[User]) -> User:
    """Staff: may see every owned audit."""
    return django_user_model.objects.create_user(username="sam", is_staff=True)


@pytest.fixture
def ctrl_c_interrupts() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here and in the processes a test starts, as in a terminal: a shell that runs
    the suite as a background job makes it ignored, for the suite and everything it starts."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def forkaudit(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `forkaudit` command on a data directory of the test's own (the embedded SQLite database)."""
    data_dir = tmp_path / "data"

    def run(*args: str, timeout: float = 900, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, FORKAUDIT_DATA_DIR=str(data_dir))
        env.pop("DATABASE_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "auditor.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=cwd or tmp_path,
        )

    return run
