"""auditor/project/settings.py and auditor/project/env.py: environment variables, their defaults, and loud failures."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from auditor.project.env import env_bool, env_int, env_list, env_secret, env_str, persistent_secret

PROJECT = Path(__file__).resolve().parent.parent
# Variables of auditor/project/settings.py; the subprocesses start from a clean slate of these.
SETTINGS_VARIABLES = (
    "FORKAUDIT_DATA_DIR",
    "DATABASE_URL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DEBUG",
    "ALLOWED_HOSTS",
    "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS",
    "FORKAUDIT_BUILD_SOURCES",
    "FORKAUDIT_PROBE_TIMEOUT",
    "FORKAUDIT_SANDBOX",
    "FORKAUDIT_WORK_DIR",
    "CELERY_BROKER_URL",
    "CELERY_VISIBILITY_TIMEOUT",
)


def run_django(tmp_path: Path, code: str = "", **variables: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh interpreter with `variables`, the data directory in `tmp_path` unless given."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "auditor.project.settings"
    env["FORKAUDIT_DATA_DIR"] = str(tmp_path / "data")
    env.update(variables)
    script = f"import django\ndjango.setup()\nfrom django.conf import settings\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FORKAUDIT_PROBE_TIMEOUT", "sixty", "FORKAUDIT_PROBE_TIMEOUT must be an integer; got 'sixty'"),
        ("FORKAUDIT_PROBE_TIMEOUT", "0", "FORKAUDIT_PROBE_TIMEOUT must be at least 1; got 0"),
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("FORKAUDIT_BUILD_SOURCES", "yes please", "FORKAUDIT_BUILD_SOURCES must be a boolean"),
        ("FORKAUDIT_SANDBOX", "docker", "FORKAUDIT_SANDBOX must be one of bwrap, none; got 'docker'"),
        ("DATABASE_URL", "oracle2://db/forkaudit", "DATABASE_URL is not usable"),
        ("SECRET_KEY_FILE", "/nonexistent/secret", "SECRET_KEY_FILE='/nonexistent/secret' cannot be read"),
    ],
)
def test_settings_refuse_a_bad_value_at_start_up_naming_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    completed = run_django(tmp_path, **{variable: value})

    assert completed.returncode != 0
    assert "ImproperlyConfigured" in completed.stderr
    assert message in completed.stderr


def test_settings_refuse_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    completed = run_django(tmp_path, FORKAUDIT_DATA_DIR=str(tmp_path / "file" / "data"))

    assert completed.returncode != 0
    assert "FORKAUDIT_DATA_DIR=" in completed.stderr
    assert "cannot be created" in completed.stderr


def test_settings_create_a_configured_work_dir_for_this_user_alone(tmp_path: Path) -> None:
    completed = run_django(
        tmp_path, "print(settings.FORKAUDIT_WORK_DIR)", FORKAUDIT_WORK_DIR=str(tmp_path / "scratch" / "work")
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(tmp_path / "scratch" / "work")
    assert stat.S_IMODE((tmp_path / "scratch" / "work").stat().st_mode) == 0o700


def test_settings_refuse_a_work_dir_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    completed = run_django(tmp_path, FORKAUDIT_WORK_DIR=str(tmp_path / "file" / "work"))

    assert completed.returncode != 0
    assert "FORKAUDIT_WORK_DIR=" in completed.stderr
    assert "cannot be created" in completed.stderr


def test_settings_defaults_make_the_embedded_mode_work(tmp_path: Path) -> None:
    code = (
        "print(settings.DEBUG, settings.ALLOWED_HOSTS, settings.FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS,"
        " settings.FORKAUDIT_BUILD_SOURCES, settings.FORKAUDIT_PROBE_TIMEOUT, settings.FORKAUDIT_SANDBOX,"
        " settings.DATABASES['default']['NAME'])"
    )

    completed = run_django(tmp_path, code)

    assert completed.returncode == 0, completed.stderr
    database = tmp_path / "data" / "forkaudit.sqlite3"
    assert completed.stdout.split() == [
        "False",
        "['localhost',",
        "'127.0.0.1',",
        "'[::1]']",
        "False",
        "True",
        "60",
        "bwrap",
        str(database),
    ]
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_settings_read_every_variable(tmp_path: Path) -> None:
    code = (
        "print(settings.DEBUG, ','.join(settings.ALLOWED_HOSTS), settings.FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS,"
        " settings.FORKAUDIT_BUILD_SOURCES, settings.FORKAUDIT_PROBE_TIMEOUT, settings.FORKAUDIT_SANDBOX,"
        " settings.SECRET_KEY, settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['HOST'])"
    )

    completed = run_django(
        tmp_path,
        code,
        DEBUG="on",
        ALLOWED_HOSTS="forkaudit.example, .internal",
        FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS="1",
        FORKAUDIT_BUILD_SOURCES="off",
        FORKAUDIT_PROBE_TIMEOUT="120",
        FORKAUDIT_SANDBOX="none",
        SECRET_KEY="from-the-environment",
        DATABASE_URL="postgres://forkaudit:pw@db.internal:5432/forkaudit",
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        "True",
        "forkaudit.example,.internal",
        "True",
        "False",
        "120",
        "none",
        "from-the-environment",
        "django.db.backends.postgresql",
        "db.internal",
    ]
    assert not (tmp_path / "data" / "secret_key").exists()


def test_settings_generate_a_secret_key_once_and_keep_it_private(tmp_path: Path) -> None:
    first = run_django(tmp_path, "print(settings.SECRET_KEY)")
    second = run_django(tmp_path, "print(settings.SECRET_KEY)")

    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.stdout == second.stdout == key_file.read_text() + "\n"
    assert len(key_file.read_text()) >= 50
    assert [p.name for p in key_file.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_settings_started_at_once_by_several_processes_agree_on_one_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="auditor.project.settings", FORKAUDIT_DATA_DIR=str(tmp_path / "data"))
    # The settings module alone (no django.setup()) is what creates the key, and starts faster.
    script = "from django.conf import settings; print(settings.SECRET_KEY)"
    processes = [
        subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=120)[0] for process in processes}

    assert keys == {(tmp_path / "data" / "secret_key").read_text() + "\n"}


def test_settings_read_the_secret_key_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("mounted-secret\n")

    completed = run_django(tmp_path, "print(settings.SECRET_KEY)", SECRET_KEY_FILE=str(secret))

    assert completed.stdout == "mounted-secret\n"


def test_settings_put_sqlite_in_wal_mode_with_immediate_transactions(tmp_path: Path) -> None:
    code = (
        "from django.db import connection\n"
        "cursor = connection.cursor()\n"
        "mode = cursor.execute('PRAGMA journal_mode').fetchone()[0]\n"
        "timeout = cursor.execute('PRAGMA busy_timeout').fetchone()[0]\n"
        "print(mode, timeout, connection.transaction_mode)"
    )

    completed = run_django(tmp_path, code)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["wal", "20000", "IMMEDIATE"]


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("Yes", True), ("off", False), ("FALSE", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("FORKAUDIT_TEST_FLAG", value)

    assert env_bool("FORKAUDIT_TEST_FLAG", not expected) is expected


def test_env_helpers_treat_empty_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKAUDIT_TEST_VALUE", "  ")

    assert env_bool("FORKAUDIT_TEST_VALUE", True) is True
    assert env_int("FORKAUDIT_TEST_VALUE", 7) == 7
    assert env_str("FORKAUDIT_TEST_VALUE", "x", choices=("x",)) == "x"
    assert env_list("FORKAUDIT_TEST_VALUE", ["a"]) == ["a"]
    assert env_secret("FORKAUDIT_TEST_VALUE") is None


def test_env_secret_refuses_both_the_value_and_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "s").write_text("b")
    monkeypatch.setenv("FORKAUDIT_TEST_SECRET", "a")
    monkeypatch.setenv("FORKAUDIT_TEST_SECRET_FILE", str(tmp_path / "s"))

    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("FORKAUDIT_TEST_SECRET")


def test_env_secret_refuses_an_empty_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "s").write_text("\n")
    monkeypatch.setenv("FORKAUDIT_TEST_SECRET_FILE", str(tmp_path / "s"))

    with pytest.raises(ImproperlyConfigured, match="is empty"):
        env_secret("FORKAUDIT_TEST_SECRET")


def test_persistent_secret_keeps_a_secret_another_process_published_first(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("published-by-another-process")

    assert persistent_secret(path) == "published-by-another-process"


def test_settings_with_redis_share_the_cache_and_set_the_visibility_timeout(tmp_path: Path) -> None:
    code = (
        "print(settings.CACHES['default']['BACKEND'], settings.CACHES['default']['LOCATION'],"
        " settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])"
    )

    completed = run_django(
        tmp_path, code, CELERY_BROKER_URL="redis://127.0.0.1:6399/0", CELERY_VISIBILITY_TIMEOUT="900"
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://127.0.0.1:6399/0",
        "900",
    ]


def test_settings_embedded_broker_keeps_all_its_folders_in_the_data_dir(tmp_path: Path) -> None:
    completed = run_django(tmp_path, "print(sorted(settings.CELERY_BROKER_TRANSPORT_OPTIONS.items()))")

    assert completed.returncode == 0, completed.stderr
    broker = tmp_path / "data" / "broker"
    for folder in ("queue", "processed", "control"):
        assert (broker / folder).is_dir()
        assert str(broker / folder) in completed.stdout
