"""Each machine's copy of an audit's environment: the tasks of the audit that one worker process runs examine it
(every RECORD read by auditor.core.integrity) once, and again only when it was built again."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from auditor import audit_environments, services
from auditor.audit_environments import forget_environment, prepared_environment, workdir
from auditor.core.environments import AuditEnvironment
from auditor.core.pipeline import Prepared
from auditor.workflow import audit_options

pytestmark = pytest.mark.django_db


def write_state(directory: Path) -> None:
    """What the task that built the environment writes down (the environment itself is not needed here)."""
    state = {
        "env": {field.name: f"/nowhere/{field.name}" for field in dataclasses.fields(AuditEnvironment)},
        "install_errors": {},
        "carried": {},
    }
    written = directory / "environment.json.new"
    written.write_text(json.dumps(state))
    written.replace(directory / "environment.json")


def test_a_worker_examines_an_audits_environment_once_until_it_is_built_again(
    alice: User, monkeypatch: pytest.MonkeyPatch
):
    audit = services.audit_create(owner=alice, input_kind="requirements", input_text="fa-one\n")
    services.audit_mark_running(audit_id=audit.pk)
    services.audit_graph_store(audit_id=audit.pk, graph={"direct": ["fa-one"], "edges": [], "pins": {"fa-one": "1"}})
    audit.refresh_from_db()
    directory = workdir(audit.pk)
    directory.mkdir(parents=True)
    write_state(directory)
    examined = []

    def examine(env, resolution, install_errors, carried=None):  # type: ignore[no-untyped-def]
        examined.append(env)
        return Prepared(env, resolution, [], dict(install_errors), dict(carried or {}))

    monkeypatch.setattr(audit_environments, "examined", examine)
    options = audit_options(audit)

    first = prepared_environment(audit, options)
    again = prepared_environment(audit, options)

    assert again is first and len(examined) == 1
    write_state(directory)  # built again (after a worker died, say): another state file
    rebuilt = prepared_environment(audit, options)
    assert rebuilt is not first and len(examined) == 2
    forget_environment(audit.pk)  # the audit ended in this process
    assert prepared_environment(audit, options) is not rebuilt and len(examined) == 3
