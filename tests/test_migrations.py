"""Migrations that change data, run on rows written before them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_CODES = [("auditor", "0002_uploads_and_claims")]
WITH_CODES = [("auditor", "0003_audit_failure_code")]


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader: the state after the migration


@pytest.mark.django_db(transaction=True)
def test_audits_that_failed_before_failure_codes_get_the_code_their_message_means():
    try:
        executor = migrate(BEFORE_CODES)
        Audit = executor.loader.project_state(BEFORE_CODES).apps.get_model("auditor", "Audit")
        common = {"status": "failed", "input_kind": "requirements", "input_text": "six\n"}
        unresolved = Audit.objects.create(**common, error="the requirements cannot be resolved:\nno version of six")
        crashed = Audit.objects.create(**common, error="the audit could not be completed: an internal error (X)")
        done = Audit.objects.create(**{**common, "status": "done", "error": ""})

        executor = migrate(WITH_CODES)
        Audit = executor.loader.project_state(WITH_CODES).apps.get_model("auditor", "Audit")

        codes = dict(Audit.objects.values_list("pk", "failure_code"))
        assert codes == {unresolved.pk: "resolution-failed", crashed.pk: "internal", done.pk: ""}
    finally:
        executor = MigrationExecutor(connection)
        migrate(executor.loader.graph.leaf_nodes())
