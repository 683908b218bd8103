"""auditor/project/settings.py and auditor/project/env.py: environment variables, their defaults, and loud failures
at start-up, whichever command starts."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from auditor.project.env import env_bool, env_int, env_list, env_rate, env_secret, env_str, env_url, persistent_secret

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
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
    "FORKAUDIT_PYTHON",
    "FORKAUDIT_LOCAL_MODE",
    "FORKAUDIT_LAUNCH_TOKEN",
    "FORKAUDIT_MAX_UPLOAD_BYTES",
    "FORKAUDIT_SUBMIT_RATE",
    "FORKAUDIT_PUBLIC_URL",
    "FORKAUDIT_TRUSTED_PROXIES",
    "FORKAUDIT_VULNERABILITY_SERVICE",
    "FORKAUDIT_WORK_DIR",
    "CELERY_BROKER_URL",
    "CELERY_VISIBILITY_TIMEOUT",
)


def clean_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """This environment without any setting's variable, the data directory in `tmp_path`, then `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "auditor.project.settings"
    env["FORKAUDIT_DATA_DIR"] = str(tmp_path / "data")
    env.update(variables)
    return env


def run_django(tmp_path: Path, code: str = "", **variables: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh interpreter with `variables`, the data directory in `tmp_path` unless given."""
    env = clean_environment(tmp_path, **variables)
    script = f"import django\ndjango.setup()\nfrom django.conf import settings\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refused(command: list[str], tmp_path: Path, status: int = 2, **variables: str) -> str:
    """Run `command` as the operator would, with `variables` set; assert that it stopped at start-up with `status`
    and a message rather than a traceback, and return that message (its stderr). A command that does not stop runs
    into the timeout, and the test fails."""
    env = clean_environment(tmp_path, **variables)
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


MANAGE_CHECK = [sys.executable, str(PROJECT / "manage.py"), "check"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS", "perhaps", "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS must be a boolean"),
        ("FORKAUDIT_BUILD_SOURCES", "yes please", "FORKAUDIT_BUILD_SOURCES must be a boolean"),
        ("FORKAUDIT_LOCAL_MODE", "sometimes", "FORKAUDIT_LOCAL_MODE must be a boolean"),
        ("FORKAUDIT_PROBE_TIMEOUT", "sixty", "FORKAUDIT_PROBE_TIMEOUT must be an integer; got 'sixty'"),
        ("FORKAUDIT_PROBE_TIMEOUT", "0", "FORKAUDIT_PROBE_TIMEOUT must be at least 1; got 0"),
        ("FORKAUDIT_PROBE_TIMEOUT", "86401", "FORKAUDIT_PROBE_TIMEOUT must be at most 86400; got 86401"),
        ("FORKAUDIT_SANDBOX", "docker", "FORKAUDIT_SANDBOX must be one of bwrap, none; got 'docker'"),
        ("FORKAUDIT_PYTHON", "/nonexistent/python3", "FORKAUDIT_PYTHON must be the path of an executable file"),
        ("FORKAUDIT_LAUNCH_TOKEN", "short", "FORKAUDIT_LAUNCH_TOKEN is too short to be a secret (at least 32"),
        ("FORKAUDIT_MAX_UPLOAD_BYTES", "100MB", "FORKAUDIT_MAX_UPLOAD_BYTES must be an integer; got '100MB'"),
        ("FORKAUDIT_MAX_UPLOAD_BYTES", "10", "FORKAUDIT_MAX_UPLOAD_BYTES must be at least 1024; got 10"),
        ("FORKAUDIT_SUBMIT_RATE", "lots", "FORKAUDIT_SUBMIT_RATE must be N/second, N/minute, N/hour or N/day"),
        ("FORKAUDIT_SUBMIT_RATE", "30/fortnight", "FORKAUDIT_SUBMIT_RATE must be N/second, N/minute, N/hour or N/day"),
        ("FORKAUDIT_SUBMIT_RATE", "0/hour", "(N at least 1); got '0/hour'"),
        ("FORKAUDIT_TRUSTED_PROXIES", "proxy.internal", "FORKAUDIT_TRUSTED_PROXIES must list IP addresses or networks"),
        ("FORKAUDIT_VULNERABILITY_SERVICE", "osvv", "FORKAUDIT_VULNERABILITY_SERVICE must be one of none, osv, pypi"),
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("DATABASE_URL", "oracle2://db/forkaudit", "DATABASE_URL is not usable"),
        ("DATABASE_URL", "oracle2://db/forkaudit", "it must be postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///"),
        ("SECRET_KEY_FILE", "/nonexistent/secret", "SECRET_KEY_FILE='/nonexistent/secret' cannot be read"),
        (
            "CELERY_BROKER_URL",
            "amqp://guest:pw@rabbit//",
            "CELERY_BROKER_URL must be a URL starting with filesystem://",
        ),
        ("FORKAUDIT_PUBLIC_URL", "forkaudit.example.org", "FORKAUDIT_PUBLIC_URL must be a URL starting with http://"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_message_naming_it(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    stderr = refused(MANAGE_CHECK, tmp_path, **{variable: value})

    assert stderr.startswith("forkaudit: configuration: ")
    assert message in stderr


def test_a_python_that_is_not_executable_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "python3").write_text("#!/bin/sh\n")  # mode 0644

    stderr = refused(MANAGE_CHECK, tmp_path, FORKAUDIT_PYTHON=str(tmp_path / "python3"))

    assert f"FORKAUDIT_PYTHON must be the path of an executable file; got '{tmp_path}/python3'" in stderr


def test_a_bad_visibility_timeout_stops_start_up_with_redis(tmp_path: Path) -> None:
    stderr = refused(
        MANAGE_CHECK, tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6399/0", CELERY_VISIBILITY_TIMEOUT="5"
    )

    assert "CELERY_VISIBILITY_TIMEOUT must be at least 60; got 5" in stderr


def test_a_bad_directory_stops_start_up_with_a_message_naming_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    for variable in ("FORKAUDIT_DATA_DIR", "FORKAUDIT_WORK_DIR"):
        stderr = refused(MANAGE_CHECK, tmp_path, **{variable: str(tmp_path / "file" / "dir")})

        assert f"{variable}='{tmp_path}/file/dir' cannot be created" in stderr


def test_the_message_of_a_bad_broker_url_leaves_out_its_password(tmp_path: Path) -> None:
    stderr = refused(MANAGE_CHECK, tmp_path, CELERY_BROKER_URL="amqp://guest:hunter2@rabbit//")

    assert "got one starting with amqp://" in stderr
    assert "hunter2" not in stderr


# Every way the service starts: manage.py (and `python -m auditor.project.manage`, the image's), the worker, the web
# server, `forkaudit serve`, and the CLI's commands that use the settings. Each is stopped by the settings it loads
# first.
START_COMMANDS = {
    "manage.py check": lambda: MANAGE_CHECK,
    "manage.py migrate": lambda: [sys.executable, str(PROJECT / "manage.py"), "migrate", "--noinput"],
    "python -m auditor.project.manage migrate": lambda: [sys.executable, "-m", "auditor.project.manage", "migrate"],
    "celery worker": lambda: [str(BIN / "celery"), "-A", "auditor.project", "worker", "--pool", "threads"],
    "gunicorn": lambda: [sys.executable, "-m", "gunicorn", "auditor.project.wsgi", "-b", f"127.0.0.1:{free_port()}"],
    "forkaudit serve": lambda: [str(BIN / "forkaudit"), "serve", "--port", str(free_port())],
    "forkaudit audit": lambda: [str(BIN / "forkaudit"), "audit", "-r", "requirements.txt"],
    "forkaudit token create": lambda: [str(BIN / "forkaudit"), "token", "create", "ci"],
}


@pytest.mark.parametrize("command", sorted(START_COMMANDS))
@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("FORKAUDIT_SUBMIT_RATE", "30 per hour", "must be N/second, N/minute, N/hour or N/day"),
        ("FORKAUDIT_VULNERABILITY_SERVICE", "snyk", "must be one of none, osv, pypi; got 'snyk'"),
    ],
)
def test_every_way_of_starting_refuses_a_bad_setting(
    tmp_path: Path, command: str, variable: str, value: str, allowed: str
) -> None:
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")  # for `forkaudit audit`, run in tmp_path

    status = 4 if command == "gunicorn" else 2  # gunicorn's own "App failed to load": its master stops

    stderr = refused(START_COMMANDS[command](), tmp_path, status, **{variable: value})

    assert f"configuration: {variable} {allowed}" in stderr


def test_settings_create_a_configured_work_dir_for_this_user_alone(tmp_path: Path) -> None:
    completed = run_django(
        tmp_path, "print(settings.FORKAUDIT_WORK_DIR)", FORKAUDIT_WORK_DIR=str(tmp_path / "scratch" / "work")
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(tmp_path / "scratch" / "work")
    assert stat.S_IMODE((tmp_path / "scratch" / "work").stat().st_mode) == 0o700


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


@pytest.mark.parametrize("value", ["30/hour", "1/second", "100/day", "5/m"])
def test_env_rate_accepts_what_the_throttles_read(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FORKAUDIT_TEST_RATE", value)

    assert env_rate("FORKAUDIT_TEST_RATE", "1/day") == value


def test_env_str_reads_a_choice_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKAUDIT_TEST_CHOICE", " None ")

    assert env_str("FORKAUDIT_TEST_CHOICE", "osv", choices=("osv", "pypi", "none")) == "none"


def test_env_url_keeps_an_allowed_url_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKAUDIT_TEST_URL", "rediss://:secret@redis.internal:6380/1")

    assert env_url("FORKAUDIT_TEST_URL", "", schemes=("redis", "rediss")) == "rediss://:secret@redis.internal:6380/1"


def test_settings_read_the_service_settings(tmp_path: Path) -> None:
    code = (
        "print(settings.FORKAUDIT_SUBMIT_RATE, settings.FORKAUDIT_VULNERABILITY_SERVICE, settings.FORKAUDIT_PYTHON,"
        " settings.FORKAUDIT_MAX_UPLOAD_BYTES)"
    )

    completed = run_django(
        tmp_path,
        code,
        FORKAUDIT_SUBMIT_RATE="5/minute",
        FORKAUDIT_VULNERABILITY_SERVICE="PyPI",
        FORKAUDIT_PYTHON=sys.executable,
        FORKAUDIT_MAX_UPLOAD_BYTES="2048",
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["5/minute", "pypi", sys.executable, "2048"]
