"""How the workflow recovers from a worker that died at the worst moment (the unit view of test_worker_crash.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from auditor import claims, services, workflow
from auditor.models import Audit, AuditDistribution, ProbeClaim

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

pytestmark = pytest.mark.django_db

NEVER_STALE = timedelta(days=1)


def claim_held_by(holder: str) -> ProbeClaim:
    return ProbeClaim.objects.create(key="0" * 64, holder=holder)


def test_a_claim_of_this_live_process_is_not_dead():
    assert not claims.claim_is_dead(claim_held_by(claims.holder()), NEVER_STALE)


def test_a_claim_of_an_exited_process_is_dead():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = f"{socket.gethostname()}:{done.stdout.strip()}:12345"

    assert claims.claim_is_dead(claim_held_by(holder), NEVER_STALE)


def test_a_claim_of_an_earlier_process_with_the_same_pid_is_dead():
    # A restarted container: same host name, and the new worker got its predecessor's pid.
    holder = f"{socket.gethostname()}:{os.getpid()}:1"

    assert claims.claim_is_dead(claim_held_by(holder), NEVER_STALE)


def test_a_claim_of_another_host_is_dead_only_when_stale():
    claim = claim_held_by("another-host:1:1")

    assert not claims.claim_is_dead(claim, NEVER_STALE)
    assert claims.claim_is_dead(claim, timedelta(seconds=-1))


@pytest.fixture
def audit_with_every_distribution_done(settings: SettingsWrapper) -> Audit:
    """The state a worker leaves when it dies after completing the last distribution, before finishing the audit."""
    settings.FORKAUDIT_VULNERABILITY_SERVICE = "none"
    audit = services.audit_create(owner=None, input_kind="requirements", input_text="fa-gone\n")
    services.audit_mark_running(audit_id=audit.pk)
    services.audit_graph_store(audit_id=audit.pk, graph={"direct": ["fa-gone"], "edges": [], "pins": {"fa-gone": "1"}})
    distribution = AuditDistribution.objects.get(audit=audit)
    AuditDistribution.objects.filter(pk=distribution.pk).update(error="it was not installed")
    services.audit_distribution_complete(audit_distribution_id=distribution.pk, probe=None, cached=False)
    return audit


def test_a_redelivered_task_of_the_last_distribution_finishes_the_audit(audit_with_every_distribution_done: Audit):
    distribution = AuditDistribution.objects.get(audit=audit_with_every_distribution_done)

    workflow.audit_analyse(audit_distribution_id=distribution.pk)

    audit = Audit.objects.get(pk=audit_with_every_distribution_done.pk)
    assert audit.status == Audit.Status.DONE
    assert [d["name"] for d in audit.report["distributions"]] == ["fa-gone"]


def test_a_redelivered_prepare_of_an_audit_with_nothing_pending_finishes_it(audit_with_every_distribution_done: Audit):
    assert workflow.audit_prepare(audit_id=audit_with_every_distribution_done.pk) == []

    assert Audit.objects.get(pk=audit_with_every_distribution_done.pk).status == Audit.Status.DONE
