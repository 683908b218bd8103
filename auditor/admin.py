"""Admin pages: read-mostly views of results and audits (they are written by the pipeline, not by hand)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from auditor.models import Audit, AuditDistribution, FindingRecord, ProbeRecord


class ReadOnlyAdmin(admin.ModelAdmin):
    """View and delete only: editing a stored result by hand would make it disagree with its findings."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FindingInline(ReadOnlyInline):
    model = FindingRecord
    fields = ["kind", "module", "thread", "native", "alive_after_import"]


@admin.register(ProbeRecord)
class ProbeRecordAdmin(ReadOnlyAdmin):
    list_display = ["name", "version", "verdict", "fork_aware", "origin", "owner", "python", "platform", "deep"]
    list_filter = ["verdict", "fork_aware", "deep", "sandbox", "python", "platform"]
    search_fields = ["name", "version", "origin", "findings__thread"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    inlines = [FindingInline]


@admin.register(FindingRecord)
class FindingRecordAdmin(ReadOnlyAdmin):
    list_display = ["probe", "kind", "module", "thread", "native", "alive_after_import"]
    list_filter = ["kind", "native", "alive_after_import", "probe__verdict"]
    search_fields = ["thread", "module", "probe__name"]
    list_select_related = ["probe"]


class AuditDistributionInline(ReadOnlyInline):
    model = AuditDistribution
    fields = ["name", "version", "direct", "status", "cached", "probe"]


@admin.register(Audit)
class AuditAdmin(ReadOnlyAdmin):
    list_display = ["id", "owner", "status", "verdict", "input_kind", "progress_done", "progress_total", "created"]
    list_filter = ["status", "verdict", "input_kind"]
    search_fields = ["=id", "owner__username", "distributions__name"]
    date_hierarchy = "created"
    list_select_related = ["owner"]
    inlines = [AuditDistributionInline]


@admin.register(AuditDistribution)
class AuditDistributionAdmin(ReadOnlyAdmin):
    list_display = ["name", "version", "audit", "direct", "status", "cached", "probe"]
    list_filter = ["status", "direct", "cached"]
    search_fields = ["name", "=audit__id"]
    list_select_related = ["audit", "probe"]
