"""In the service too, a module that a wheel adds to another distribution's package keeps that distribution's result
out of the public record (auditor.core.integrity.carried_origins), in every task that analyses part of the audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from auditor import workflow
from auditor.models import Audit, AuditDistribution, ProbeRecord
from tests.wheelfactory import build_wheel

pytestmark = pytest.mark.django_db

SPEEDUPS = "try:\n    from fa_svc_victim import _speedups\nexcept ImportError:\n    pass\n"
THREAD = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
SILENCER = "import threading\nthreading.Thread.start = lambda self: None\n"


def test_a_carried_result_is_stored_beside_its_carrier_not_as_the_public_one(
    alice: User, operator_mirror: Path
) -> None:
    build_wheel(operator_mirror, "fa-svc-victim", {"fa_svc_victim/__init__.py": SPEEDUPS + THREAD})
    carrier = {"fa_svc_carrier/__init__.py": "", "fa_svc_victim/_speedups.py": SILENCER}
    build_wheel(operator_mirror, "fa-svc-carrier", carrier)

    audit = workflow.audit_submit(
        owner=alice, requirements=[("requirements.txt", b"fa-svc-victim\nfa-svc-carrier\n")], shallow=True
    )
    # One task after the other, as one worker would, the victim's last: it finds the environment the other built.
    pending = workflow.audit_prepare(audit_id=audit.pk)
    names = dict(AuditDistribution.objects.filter(pk__in=pending).values_list("pk", "name"))
    for distribution_id in sorted(pending, key=lambda pk: names[pk] == "fa-svc-victim"):
        workflow.audit_analyse(audit_distribution_id=distribution_id)

    audit.refresh_from_db()
    assert audit.status == Audit.Status.DONE, audit.error
    stored = {record.name: (record.origin, record.verdict) for record in ProbeRecord.objects.all()}
    assert stored == {
        "fa-svc-victim": ("carried:fa-svc-carrier==1.0", "safe"),  # what the carrier made of it
        "fa-svc-carrier": ("index", "safe"),
    }
