"""docker-compose.yml and the Dockerfile, checked without a Docker engine: the compose file against the Compose
Specification, the Dockerfile's commands against what `pip install .` installs."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.service.conftest import ROOT, base_environment

BIN = Path(sys.executable).parent


@dataclass
class Instruction:
    keyword: str
    arguments: str
    heredoc: str = ""
    flags: list[str] = field(default_factory=list)


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions: continuation lines joined, comments dropped, here-documents attached."""
    instructions: list[Instruction] = []
    lines = iter((ROOT / "Dockerfile").read_text().splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        keyword, _, arguments = line.strip().partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        heredoc = re.search(r"<<-?'?(\w+)'?", arguments)
        if heredoc:
            body = []
            for body_line in lines:
                if body_line == heredoc[1]:
                    break
                body.append(body_line)
            instruction.heredoc = "\n".join(body) + "\n"
        instructions.append(instruction)
    return instructions


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def entrypoint_script() -> str:
    [script] = [
        i.heredoc for i in dockerfile() if i.keyword == "COPY" and "/usr/local/bin/forkaudit-container" in i.arguments
    ]
    return script


def script_branch(script: str, name: str) -> str:
    """The text of one `case` branch (`web)` ... `;;`) of the entrypoint script."""
    match = re.search(rf"^\s*{name}\)\n(.*?)^\s*;;", script, re.MULTILINE | re.DOTALL)
    assert match, f"no {name}) branch in the entrypoint script"
    return match[1]


def commands_of(branch: str) -> list[list[str]]:
    """The commands a branch runs: lines joined at backslashes; comments, tests and built-ins dropped."""
    text = re.sub(r"\\\n\s*", " ", branch)
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        words = shlex.split(line)
        if words[0] in ("shift", "set"):  # shell built-ins
            continue
        commands.append(words[1:] if words[0] == "exec" else words)
    return commands


def test_the_compose_file_follows_the_compose_specification():
    checker = BIN / "check-jsonschema"
    assert checker.exists(), "check-jsonschema is not installed: it is in the project's test extras"

    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_check_would_catch_a_mistake(tmp_path: Path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("stop_grace_period:", "stop_grace_periods:"))

    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert "stop_grace_periods" in done.stdout + done.stderr


def test_compose_runs_web_workers_redis_and_postgres_each_with_a_health_check():
    services = compose()["services"]

    assert set(services) == {"web", "worker", "redis", "postgres"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service["volumes"], name
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "FORKAUDIT_DATA_DIR"} <= set(environment)
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert any(v.endswith(f":{environment['FORKAUDIT_DATA_DIR']}") for v in services[name]["volumes"])
    assert services["web"]["command"] == ["web"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_compose_lets_the_worker_build_sandboxes_and_only_the_worker():
    services = compose()["services"]

    worker = services["worker"]
    assert worker["cap_add"] == ["SYS_ADMIN"]
    assert {"seccomp:unconfined", "apparmor:unconfined"} <= set(worker["security_opt"])
    assert worker["user"] == "root"
    for name in ("web", "redis", "postgres"):
        assert not {"cap_add", "security_opt", "privileged"} & set(services[name]), name


def test_no_secret_has_a_default_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()

    for variable in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        assert re.findall(rf"\${{{variable}(:?[-=?][^}}]*)?}}", text), variable
        assert not re.search(rf"\${{{variable}:?-", text), f"{variable} has a default"


def test_the_image_is_python_311_slim_bookworm_with_bubblewrap_and_the_project():
    instructions = dockerfile()

    assert instructions[0].keyword == "FROM"
    assert instructions[0].arguments == "python:3.11-slim-bookworm"
    runs = " ".join(i.arguments for i in instructions if i.keyword == "RUN")
    assert re.search(r"apt-get install [^&]*\bbubblewrap\b", runs)
    assert re.search(r"apt-get install [^&]*\butil-linux\b", runs)
    assert 'pip install ".[server]"' in runs
    env = " ".join(i.arguments for i in instructions if i.keyword == "ENV")
    assert "FORKAUDIT_DATA_DIR=/var/lib/forkaudit" in env
    assert "SECRET" not in env.upper()


def test_the_dockerfile_copies_only_what_exists_and_is_not_ignored():
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"]

    for instruction in dockerfile():
        if instruction.keyword != "COPY" or instruction.heredoc:
            continue
        *sources, _destination = [a for a in instruction.arguments.split() if not a.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


def test_the_entrypoint_and_command_name_the_script_the_dockerfile_installs():
    instructions = {i.keyword: i for i in dockerfile()}
    script = entrypoint_script()

    assert json.loads(instructions["ENTRYPOINT"].arguments) == ["forkaudit-container"]
    assert json.loads(instructions["CMD"].arguments) == ["web"]
    assert script.startswith("#!/bin/sh\n")
    assert shutil.which("sh")
    syntax = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    for command in ("web", "worker"):  # what CMD and docker-compose.yml pass
        script_branch(script, command)


def test_the_entrypoints_commands_are_installed_by_the_project():
    script = entrypoint_script()

    for branch in ("web", "worker"):
        for command in commands_of(script_branch(script, branch)):
            assert (BIN / command[0]).exists(), f"{command[0]} is not installed by `pip install .[server]`"


def test_the_web_branch_migrates_then_serves_with_gthread_and_never_preload():
    web = commands_of(script_branch(entrypoint_script(), "web"))

    [migrate, gunicorn] = web
    assert migrate[:4] == ["python", "-m", "auditor.project.manage", "migrate"]
    assert gunicorn[:2] == ["gunicorn", "auditor.project.wsgi:application"]
    assert gunicorn[gunicorn.index("--worker-class") + 1] == "gthread"
    assert "--preload" not in gunicorn
    for path in ("Dockerfile", "docker-compose.yml"):
        code = [line for line in (ROOT / path).read_text().splitlines() if not line.strip().startswith("#")]
        assert not [line for line in code if "--preload" in line.split("#")[0]], path


def test_the_web_branchs_gunicorn_options_are_valid(tmp_path: Path):
    [_migrate, gunicorn] = commands_of(script_branch(entrypoint_script(), "web"))
    values = {"PORT": "8000", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
    argv = [re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], word) for word in gunicorn if word != "$@"]
    env = base_environment(FORKAUDIT_DATA_DIR=str(tmp_path / "data"))

    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:], "--check-config"], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_worker_branch_runs_celery_with_the_threads_pool():
    [worker] = commands_of(script_branch(entrypoint_script(), "worker"))

    assert worker[:4] == ["celery", "-A", "auditor.project", "worker"]
    assert worker[worker.index("--pool") + 1] == "threads"


@pytest.mark.parametrize("command", [["python", "-m", "auditor.project.manage", "help", "migrate"]])
def test_the_web_branchs_management_command_exists(command: list[str], tmp_path: Path):
    env = base_environment(FORKAUDIT_DATA_DIR=str(tmp_path / "data"))

    done = subprocess.run([str(BIN / command[0]), *command[1:]], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
