"""auditor/admin.py: the read-mostly admin pages render, list, filter and search."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from auditor.core.findings import Verdict
from auditor.models import Audit, AuditDistribution, FindingRecord, ProbeRecord
from auditor.services import audit_create, audit_graph_store, probe_record_store
from tests.probe_results import native_thread, probe_key, probe_result

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_data(django_user_model: type[User]) -> Client:
    probe_record_store(key=probe_key(), result=probe_result(findings=(native_thread(),)), verdict=Verdict.UNSAFE)
    audit = audit_create(owner=None, input_kind="requirements", input_text="numpy\n")
    audit_graph_store(audit_id=audit.pk, graph={"direct": ["numpy"], "edges": [], "pins": {"numpy": "2.4.6"}})
    client = Client()
    client.force_login(django_user_model.objects.create_superuser(username="root"))
    return client


@pytest.mark.parametrize("model", [ProbeRecord, FindingRecord, Audit, AuditDistribution])
@pytest.mark.parametrize("query", ["", "?q=numpy", "?q=python", "?q=not-a-uuid"])
def test_admin_changelist_renders_and_searches(admin_client_with_data: Client, model: type, query: str) -> None:
    url = reverse(f"admin:auditor_{model._meta.model_name}_changelist") + query

    assert admin_client_with_data.get(url).status_code == 200


@pytest.mark.parametrize("model", [ProbeRecord, FindingRecord, Audit, AuditDistribution])
def test_admin_shows_a_record_read_only(admin_client_with_data: Client, model: type) -> None:
    record = model.objects.first()
    url = reverse(f"admin:auditor_{model._meta.model_name}_change", args=[record.pk])

    response = admin_client_with_data.get(url)

    assert response.status_code == 200
    assert b'name="_save"' not in response.content


def test_admin_filters_probe_records_by_verdict(admin_client_with_data: Client) -> None:
    url = reverse("admin:auditor_proberecord_changelist")

    assert b"numpy" in admin_client_with_data.get(url + "?verdict__exact=unsafe").content
    assert b"numpy" not in admin_client_with_data.get(url + "?verdict__exact=safe").content


def test_admin_offers_no_add_page(admin_client_with_data: Client) -> None:
    assert admin_client_with_data.get(reverse("admin:auditor_audit_add")).status_code == 403


@pytest.mark.parametrize("how", ["one", "selected"])
def test_a_result_deleted_in_the_admin_leaves_the_search_and_the_unsafe_list(
    admin_client_with_data: Client, how: str
) -> None:
    assert "numpy" in Client().get("/packages/", {"q": "num"}).content.decode()  # the names kept, and the list
    assert "numpy" in Client().get("/unsafe/").content.decode()
    record = ProbeRecord.objects.get()

    if how == "one":
        url = reverse("admin:auditor_proberecord_delete", args=[record.pk])
        response = admin_client_with_data.post(url, {"post": "yes"})
    else:
        url = reverse("admin:auditor_proberecord_changelist")
        form = {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}
        response = admin_client_with_data.post(url, form)

    assert response.status_code == 302
    assert not ProbeRecord.objects.exists()
    assert "No package matches this search." in Client().get("/packages/", {"q": "num"}).content.decode()
    assert "numpy" not in Client().get("/unsafe/").content.decode()
