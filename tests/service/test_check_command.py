"""`forkaudit check` against the live service: the exit codes of `forkaudit audit`, over the REST API.

Requirements files are resolved by the server: the tests that need a resolution name packages that the operator
provides as wheels (`Service.find_links`, standing in for a private package index), so that no test needs PyPI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from auditor import services
from auditor.cli.check import _answer, upload_set
from auditor.cli.common import UsageError
from auditor.core.inputs import MAX_REQUIREMENT_FILES, parse_requirements
from auditor.models import Audit
from tests.service.conftest import (
    PYTHON,
    ROOT,
    Service,
    base_environment,
    free_port,
    plain,
    thread_starter,
    wait_until,
)


def forkaudit_check(
    *args: str, token: str | None = None, timeout: float = 300, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    given, env = env or {}, base_environment()
    env.pop("FORKAUDIT_SERVER", None)  # a developer's own server is no test's
    env.update(given)
    if token is not None:
        env["FORKAUDIT_TOKEN"] = token
    return subprocess.run(
        [PYTHON, "-m", "auditor.cli", "check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def private_index(service: Service) -> None:
    """An app in the operator's private index that requires a telemetry package starting a thread on import."""
    plain(service.find_links, "forkaudit-test-check-app", requires=["forkaudit-test-check-telemetry"])
    thread_starter(service.find_links, "forkaudit-test-check-telemetry")


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("forkaudit-test-check-app==1.0\n")
    return path


def test_check_exits_1_for_an_unsafe_set_and_writes_the_json_report(
    live: Service, private_index: None, requirements: Path
):
    done = forkaudit_check(
        "-r", str(requirements), "--server", live.url, "--format", "json", "--poll", "0.5", token=live.token
    )

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["schema"] == "forkaudit-report/1"
    assert report["verdict"] == "unsafe"
    dists = {d["name"]: d for d in report["distributions"]}
    assert dists["forkaudit-test-check-telemetry"]["verdict"] == "unsafe"
    assert ["forkaudit-test-check-app", "forkaudit-test-check-telemetry"] in dists["forkaudit-test-check-telemetry"][
        "paths"
    ]
    assert "submitted audit" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_writes_sarif_that_points_at_the_requirement_line(live: Service, private_index: None, tmp_path: Path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# the app\nforkaudit-test-check-app==1.0\n")

    done = forkaudit_check(
        "-r", str(requirements), "--server", live.url, "--format", "sarif", "--poll", "0.5", token=live.token
    )

    assert done.returncode == 1, done.stderr
    [result] = json.loads(done.stdout)["runs"][0]["results"]
    where = result["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"].endswith("requirements.txt")
    assert where["region"]["startLine"] == 2


def test_check_applies_the_projects_suppressions(live: Service, private_index: None, requirements: Path, tmp_path):
    (tmp_path / ".forkaudit.toml").write_text(
        'format = "json"\n[[suppress]]\npackage = "forkaudit-test-check-telemetry"\nreason = "fork-safe in our use"\n'
    )

    done = forkaudit_check(
        "-r", str(requirements), "--server", live.url, "--poll", "0.5", token=live.token, cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    dists = {d["name"]: d for d in json.loads(done.stdout)["distributions"]}
    assert dists["forkaudit-test-check-telemetry"]["suppressed"] == "fork-safe in our use"


def test_check_exits_0_with_fail_on_never_and_takes_the_token_from_the_option(
    live: Service, private_index: None, requirements: Path, tmp_path: Path
):
    output = tmp_path / "report.md"

    done = forkaudit_check(
        "-r",
        str(requirements),
        "--server",
        live.url,
        "--token",
        live.token,
        "--fail-on",
        "never",
        "--format",
        "markdown",
        "--output",
        str(output),
        "--poll",
        "0.5",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "forkaudit-test-check-telemetry" in output.read_text()


def test_check_sends_included_files_from_other_folders(live: Service, private_index: None, tmp_path: Path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "base.txt").write_text("forkaudit-test-check-app==1.0\n")
    (tmp_path / "requirements.txt").write_text("-r requirements/base.txt\n")

    done = forkaudit_check(
        "-r",
        str(tmp_path / "requirements.txt"),
        "--server",
        live.url,
        "--format",
        "json",
        "--poll",
        "0.5",
        token=live.token,
    )

    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "unsafe"


def test_check_exits_3_when_the_server_refuses_the_token(live: Service, requirements: Path):
    done = forkaudit_check("-r", str(requirements), "--server", live.url, token="not-a-valid-token")

    assert done.returncode == 3
    assert "refused the token" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_exits_3_without_a_token_outside_local_mode(live: Service, requirements: Path):
    done = forkaudit_check("-r", str(requirements), "--server", live.url)

    assert done.returncode == 3
    assert "FORKAUDIT_TOKEN" in done.stderr


def test_check_exits_2_with_the_servers_message_for_an_index_url(live: Service, tmp_path: Path):
    path = tmp_path / "requirements.txt"
    path.write_text("--index-url https://mirror.example/simple\nsix\n")

    done = forkaudit_check("-r", str(path), "--server", live.url, token=live.token)

    assert done.returncode == 2
    assert "requirements.txt:1" in done.stderr
    assert "--index-url" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_exits_2_for_a_bad_line_without_asking_the_server(tmp_path: Path):
    path = tmp_path / "requirements.txt"
    path.write_text("six\nnot a requirement!\n")

    done = forkaudit_check("-r", str(path), "--server", f"http://127.0.0.1:{free_port()}", token="x")

    assert done.returncode == 2
    assert f"{path}:2:" in done.stderr


def test_check_exits_3_when_the_server_cannot_be_reached(requirements: Path):
    done = forkaudit_check("-r", str(requirements), "--server", f"http://127.0.0.1:{free_port()}", token="x")

    assert done.returncode == 3
    assert "cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_needs_a_server(requirements: Path):
    done = forkaudit_check("-r", str(requirements))

    assert done.returncode == 2
    assert "--server" in done.stderr


# --- what is sent --------------------------------------------------------------------------------------------------


def test_upload_set_sends_flat_names_and_rewrites_includes_across_folders(tmp_path: Path):
    (tmp_path / "reqs").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("six\n-c ../other/base.txt\n")
    (tmp_path / "other" / "base.txt").write_text("six<2\n")
    main = tmp_path / "requirements.txt"
    main.write_text("# app\n-r reqs/base.txt  # shared\nattrs\n")

    uploads = upload_set([str(main)])

    names = [name for name, _ in uploads]
    assert names[0] == "requirements.txt"
    assert sorted(names) == ["base-2.txt", "base.txt", "requirements.txt"]
    files = dict(uploads)
    assert files["requirements.txt"].decode().splitlines()[1].startswith("-r base")
    # Read as the server reads it (by name only), the set means what the local files mean.
    parsed = parse_requirements(files, main="requirements.txt")
    assert (parsed.requirements, parsed.constraints) == (("six", "attrs"), ("six<2",))


def test_upload_set_keeps_files_of_one_folder_as_they_are(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("-r base.txt\n-c constraints.txt\nattrs\n")
    (tmp_path / "base.txt").write_text("six\n")
    (tmp_path / "constraints.txt").write_text("six<2\n")

    uploads = upload_set([str(tmp_path / "requirements.txt")])

    assert uploads[0] == ("requirements.txt", b"-r base.txt\n-c constraints.txt\nattrs\n")
    assert dict(uploads) == {
        "requirements.txt": b"-r base.txt\n-c constraints.txt\nattrs\n",
        "base.txt": b"six\n",
        "constraints.txt": b"six<2\n",
    }


def test_upload_set_joins_several_files_under_one_main_file(tmp_path: Path):
    (tmp_path / "a.txt").write_text("six\n")
    (tmp_path / "b.txt").write_text("attrs\n")

    uploads = upload_set([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])

    assert uploads[0] == ("forkaudit-check.txt", b"-r a.txt\n-r b.txt\n")
    assert parse_requirements(dict(uploads), main=uploads[0][0]).requirements == ("six", "attrs")


def test_upload_set_leaves_the_external_options_policy_to_the_server(tmp_path: Path):
    path = tmp_path / "requirements.txt"
    path.write_text("--extra-index-url https://mirror.example/simple\nsix\n")

    assert upload_set([str(path)]) == [("requirements.txt", path.read_bytes())]


def test_upload_set_names_a_missing_include(tmp_path: Path):
    path = tmp_path / "requirements.txt"
    path.write_text("-r missing.txt\n")

    with pytest.raises(UsageError, match="missing.txt"):
        upload_set([str(path)])


def test_upload_set_sends_nothing_from_outside_the_project_directory(tmp_path: Path):
    (tmp_path / ".git-credentials").write_text("https://ci-bot:ghp_0123456789abcdef@github.com\n")
    (tmp_path / "project").mkdir()
    path = tmp_path / "project" / "requirements.txt"
    path.write_text("six\n-r ../.git-credentials\n")

    with pytest.raises(UsageError) as caught:
        upload_set([str(path)])

    assert str(caught.value).startswith(f"{path}:2: -r '../.git-credentials': is outside {tmp_path / 'project'}")
    assert "ghp_" not in str(caught.value)


def test_check_exits_2_for_an_include_outside_the_project_before_contacting_the_server(tmp_path: Path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "project").mkdir()
    path = tmp_path / "project" / "requirements.txt"
    path.write_text("six\n-r ../passwd\n")

    done = forkaudit_check("-r", str(path), "--server", f"http://127.0.0.1:{free_port()}", token="x")

    assert done.returncode == 2  # 3 would mean it tried to send them
    assert f"{path}:2:" in done.stderr and "is outside" in done.stderr
    assert "root:x" not in done.stderr


def test_upload_set_refuses_more_files_than_the_server_takes(tmp_path: Path):
    paths = []
    for number in range(MAX_REQUIREMENT_FILES):
        paths.append(tmp_path / f"r{number}.txt")
        paths[-1].write_text(f"package-{number}\n")

    # The main file that joins them would be one more.
    with pytest.raises(UsageError, match=f"more than {MAX_REQUIREMENT_FILES} requirements files"):
        upload_set([str(path) for path in paths])


def test_check_reads_an_answer_nested_too_deeply_as_one_without_json():
    answer = _answer(500, b"[" * 100_000, Message())

    assert (answer.status, answer.data) == (500, None)
    assert answer.detail.startswith("[[[")


# --- where the server, the files and the exit code come from ---------------------------------------------------------


def test_check_takes_the_server_from_the_environment(live: Service, private_index: None, requirements: Path):
    env = {"FORKAUDIT_SERVER": live.url}

    done = forkaudit_check("-r", str(requirements), "--format", "json", "--poll", "0.5", token=live.token, env=env)

    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "unsafe"


def test_check_names_the_variable_a_bad_server_address_came_from(requirements: Path):
    done = forkaudit_check("-r", str(requirements), token="x", env={"FORKAUDIT_SERVER": "forkaudit.example.com"})

    assert done.returncode == 2
    assert "FORKAUDIT_SERVER: not an http(s) URL: 'forkaudit.example.com'" in done.stderr


def test_check_reads_requirements_txt_of_the_current_directory_without_r(
    live: Service, private_index: None, tmp_path: Path
):
    (tmp_path / "requirements.txt").write_text("forkaudit-test-check-app==1.0\n")
    (tmp_path / "uv.lock").write_text("version = 1\n")  # requirements.txt comes first

    done = forkaudit_check("--server", live.url, "--format", "json", "--poll", "0.5", token=live.token, cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    assert "no -r given: reading ./requirements.txt" in done.stderr
    assert json.loads(done.stdout)["verdict"] == "unsafe"


def test_check_without_r_or_a_default_file_says_what_it_looked_for(tmp_path: Path):
    done = forkaudit_check("--server", f"http://127.0.0.1:{free_port()}", token="x", cwd=tmp_path)

    assert done.returncode == 2
    assert "give a requirements or lock file (-r FILE)" in done.stderr


def test_upload_set_sends_a_lock_file_alone_as_it_is(tmp_path: Path):
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "six"\nversion = "1.17.0"\n')

    assert upload_set([str(lock)]) == [("uv.lock", lock.read_bytes())]
    (tmp_path / "requirements.txt").write_text("six\n")
    with pytest.raises(UsageError, match="a lock file is audited on its own"):
        upload_set([str(tmp_path / "requirements.txt"), str(lock)])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("code", "exit_code"),
    [("bad-input", 2), ("resolution-failed", 2), ("install-failed", 3), ("sandbox-unavailable", 3), ("internal", 3)],
)
def test_check_exits_by_the_audits_failure_code_not_its_message(
    code: str, exit_code: int, alice: User, live_server: Any, requirements: Path
):
    token = Token.objects.create(user=alice).key
    command = [PYTHON, "-m", "auditor.cli", "check", "-r", str(requirements), "--server", live_server.url]
    check = subprocess.Popen(
        [*command, "--poll", "0.2"],
        env=base_environment(FORKAUDIT_TOKEN=token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: Audit.objects.filter(owner=alice).exists(), timeout=60, what="the submission")
        # The same words for every code: only the code may decide.
        services.audit_mark_failed(
            audit_id=Audit.objects.get(owner=alice).pk,
            error="the requirements cannot be resolved: or so it says",
            code=Audit.FailureCode(code),
        )
        _, stderr = check.communicate(timeout=60)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()

    assert check.returncode == exit_code, stderr
    assert "the requirements cannot be resolved: or so it says" in stderr
    assert "Traceback" not in stderr


# --- the CI client's light installation ------------------------------------------------------------------------------

HEAVY = ("django", "djangorestframework", "celery", "kombu", "redis", "libcst", "pip-audit", "psycopg", "uv")
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "data", ".pytest_cache", ".ruff_cache"
)


@pytest.mark.network  # pip fetches the build backend and the client's two dependencies from the package index
def test_the_client_installs_without_the_server_and_checks_against_a_live_server(
    live: Service, private_index: None, requirements: Path, tmp_path: Path
):
    source = tmp_path / "forkaudit"  # a copy: pip builds in the source tree, which other work shares
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(source)], capture_output=True, text=True, timeout=600
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in base_environment().items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}

    def client(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "forkaudit"), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    names = {package["name"].lower() for package in json.loads(installed.stdout)}
    assert "forkaudit" in names and not names & set(HEAVY), names
    assert client("--version").stdout.strip() == "forkaudit 0.1.0"
    env["FORKAUDIT_TOKEN"] = live.token
    done = client("check", "-r", str(requirements), "--server", live.url, "--format", "json", "--poll", "0.5")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "unsafe"
    local = client("audit", "-r", str(requirements))
    assert local.returncode == 3
    assert "pip install 'forkaudit[server]'" in local.stderr and "Traceback" not in local.stderr


def test_check_imports_none_of_the_servers_dependencies(requirements: Path):
    # What the light installation lacks must never be needed: reading, sending, failing to reach the server.
    code = (
        "import json, sys\nfrom auditor.cli import main\n"
        f"code = main(['check', '-r', {str(requirements)!r}, '--server', 'http://127.0.0.1:{free_port()}'])\n"
        "print(json.dumps([code, sorted(sys.modules)]))"
    )
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120, env=base_environment())

    exit_code, modules = json.loads(done.stdout)
    assert exit_code == 3 and "cannot be reached" in done.stderr
    heavy = {"django", "rest_framework", "celery", "kombu", "redis", "libcst", "pip_audit", "psycopg", "uv"}
    assert not {name.split(".")[0] for name in modules} & heavy
