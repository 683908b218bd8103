"""The service audits an uploaded lock file: the worker resolves the lock's pins for its interpreter, and the graph
it stores has the lock's direct requirements."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from auditor import workflow
from auditor.models import Audit
from tests.lockfactory import uv_lock
from tests.wheelfactory import build_wheel

pytestmark = pytest.mark.django_db


def test_an_uploaded_uv_lock_is_resolved_to_its_pins_with_its_direct_requirements(
    alice: User, operator_mirror: Path, tmp_path: Path
) -> None:
    requires = ["fa-telemetry", "fa-win; sys_platform == 'win32'"]
    build_wheel(operator_mirror, "fa-app", {"fa_app/__init__.py": ""}, requires=requires)
    build_wheel(operator_mirror, "fa-telemetry", {"fa_telemetry/__init__.py": ""})
    build_wheel(operator_mirror, "fa-win", {"fa_win/__init__.py": ""})
    lock_file = uv_lock(tmp_path / "project", operator_mirror, dependencies=["fa-app"])

    audit = workflow.audit_submit(owner=alice, requirements=[("uv.lock", lock_file.read_bytes())])
    pending = workflow.audit_prepare(audit_id=audit.pk)

    audit.refresh_from_db()
    assert audit.status == Audit.Status.RUNNING, audit.error
    assert audit.graph["pins"] == {"fa-app": "1.0", "fa-telemetry": "1.0"}
    assert audit.graph["direct"] == ["fa-app"]
    assert audit.graph["edges"] == [["fa-app", "fa-telemetry"]]
    assert len(pending) == 2
