"""API views: authenticate, validate with a serializer, call a workflow service or a selector, serialize.

Who sees what (docs/sandbox.md) is decided by the selectors; a view only passes them the viewer. An audit that the
viewer may not see answers exactly like one that does not exist (404), anonymous viewers included.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import QuerySet
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from packaging.utils import canonicalize_name
from rest_framework import exceptions, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auditor import selectors, workflow
from auditor.api.authentication import CanSubmit, is_local_user
from auditor.api.errors import too_large
from auditor.api.serializers import (
    AuditCreatedSerializer,
    AuditSerializer,
    AuditSubmitJsonSerializer,
    AuditSubmitMultipartSerializer,
    AuditSubmitSerializer,
    ErrorSerializer,
    PackageResultSerializer,
    PackageSearchQuerySerializer,
    PackageSerializer,
    PackageVersionSerializer,
)
from auditor.api.throttles import SubmitRateThrottle
from auditor.core.findings import Verdict
from auditor.core.inputs import InputError
from auditor.core.report.describe import MESSAGE_LIMIT, describe_finding, finding_level, plain
from auditor.core.report.sanitize import clean_text
from auditor.culprits import record_findings
from auditor.models import Audit, AuditDistribution, ProbeRecord
from auditor.request_checks import UploadRefused, check_upload_length, is_package_name, is_version


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_TOKEN = _error("The token is invalid (or the user inactive).")


class InvalidInput(exceptions.APIException):
    """The workflow refused the input: the message names the file (and line) at fault."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The input is not valid."
    default_code = "invalid_input"


def _viewer(request: Request) -> Any:
    return request.user if request.user.is_authenticated else None


def _web_url(request: Request, audit_id: uuid.UUID) -> str:
    return request.build_absolute_uri(f"{get_script_prefix()}audits/{audit_id}/")


def _audit_url(request: Request, audit_id: uuid.UUID) -> str:
    return request.build_absolute_uri(reverse("api:audit", kwargs={"id": audit_id}))


def _version_url(request: Request, record: ProbeRecord) -> str:
    path = reverse("api:package", kwargs={"name": record.name}) + quote(record.version, safe="") + "/"
    return request.build_absolute_uri(path)


# --- audits ------------------------------------------------------------------------------------------------------


class AuditSubmitView(APIView):
    permission_classes = [CanSubmit]
    throttle_classes = [SubmitRateThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: a session's CSRF check would read (and store) the whole body.
        _check_content_length(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="audits_create",
        summary="Submit an audit",
        description=(
            "Queue an audit of a requirements file (JSON `requirements`, or multipart `requirements` text or "
            "`requirements_file` files: the first is the main file, the others may be included by it with -r/-c) "
            "or of a wheel set (multipart `wheels`). Poll `url` for progress and the report. Options that reach "
            "outside the package index (`--index-url`, `-e`, local paths, VCS URLs) are refused with the file and "
            "line. Needs a token; in the local mode of `forkaudit serve`, the launch token it printed."
        ),
        request={
            "application/json": AuditSubmitJsonSerializer,
            "multipart/form-data": AuditSubmitMultipartSerializer,
        },
        responses={
            202: AuditCreatedSerializer,
            400: _error("Malformed body, missing or conflicting fields, or input refused (names file and line)."),
            401: _error("No token, or an invalid one."),
            403: _error("A session without a valid CSRF token."),
            413: _error("The request is larger than the upload limit."),
            415: _error("Neither JSON nor multipart."),
            429: _error("Too many submissions; see Retry-After."),
        },
        tags=["audits"],
    )
    def post(self, request: Request) -> Response:
        serializer = AuditSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            audit = workflow.audit_submit(
                owner=_viewer(request), shallow=serializer.validated_data["shallow"], **serializer.files()
            )
        except InputError as exc:
            raise InvalidInput(str(exc)) from exc
        url = _audit_url(request, audit.pk)
        body = {"id": audit.pk, "status": audit.status, "url": url, "web_url": _web_url(request, audit.pk)}
        return Response(AuditCreatedSerializer(body).data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


def _check_content_length(request: Request) -> None:
    try:
        check_upload_length(request.META, settings.FORKAUDIT_MAX_UPLOAD_BYTES)
    except UploadRefused as refused:
        if refused.status == 413:
            raise too_large(settings.FORKAUDIT_MAX_UPLOAD_BYTES) from None
        raise exceptions.ParseError(str(refused), code="malformed") from None


class AuditDetailView(APIView):
    @extend_schema(
        operation_id="audits_retrieve",
        summary="An audit: status, progress, and the report when done",
        description="Visible to the user who submitted it and to staff; anyone else gets 404, as for an unknown id.",
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The audit's id.")],
        responses={200: AuditSerializer, 401: BAD_TOKEN, 404: _error("No such audit, or not yours.")},
        tags=["audits"],
    )
    def get(self, request: Request, id: str) -> Response:
        audit = selectors.audit_get_for_viewer(audit_id=id, viewer=_viewer(request), local_mode=is_local_user(request))
        if audit is None:
            raise exceptions.NotFound("Audit not found.")
        return Response(AuditSerializer(_audit_data(request, audit)).data)


def _audit_data(request: Request, audit: Audit) -> dict[str, Any]:
    return {
        "id": audit.pk,
        "status": audit.status,
        "progress": {"done": audit.progress_done, "total": audit.progress_total},
        "distributions": _distribution_states(audit),
        "elapsed_seconds": round(((audit.finished or timezone.now()) - audit.created).total_seconds(), 1),
        "verdict": audit.verdict or None,
        "created": audit.created,
        "started": audit.started,
        "finished": audit.finished,
        "error": audit.error if audit.status == Audit.Status.FAILED else None,
        "failure_code": (audit.failure_code or None) if audit.status == Audit.Status.FAILED else None,
        "report": audit.report if audit.status == Audit.Status.DONE else None,
        "url": _audit_url(request, audit.pk),
        "web_url": _web_url(request, audit.pk),
    }


FINDINGS_IN_PROGRESS = 3


def _distribution_states(audit: Audit) -> list[dict[str, Any]]:
    """Each distribution of the audit as it stands, findings of those that are not safe described as they land."""
    rows = audit.distributions.select_related("probe").prefetch_related("probe__findings")
    return [_distribution_state(row) for row in rows]


def _distribution_state(row: AuditDistribution) -> dict[str, Any]:
    probe = row.probe
    done = row.status == AuditDistribution.Status.DONE
    verdict = probe.verdict if probe is not None else (Verdict.ERROR.value if done else None)
    findings: list[str] = []
    if probe is not None and verdict != Verdict.SAFE:
        known = sorted(record_findings(probe), key=lambda f: finding_level(f).rank)
        findings = [plain(describe_finding(f)) for f in known[:FINDINGS_IN_PROGRESS]]
    elif done and probe is None:
        findings = [clean_text(row.error or "it could not be installed", MESSAGE_LIMIT)]
    modules = probe.result.get("modules") if probe is not None and isinstance(probe.result, dict) else None
    state = "done" if done else "probing" if row.probing_since is not None else "queued"
    return {
        "name": row.name,
        "version": row.version,
        "state": state,
        "verdict": verdict,
        "cached": row.cached,
        # Done: the modules its probe imported; probing: those it is importing.
        "modules": len(modules) if isinstance(modules, list) else row.modules_to_import if state == "probing" else None,
        "findings": findings,
    }


# --- packages ----------------------------------------------------------------------------------------------------


class PackagePagination(PageNumberPagination):
    page_size = 50


class PackageSearchView(ListAPIView):
    serializer_class = PackageResultSerializer
    pagination_class = PackagePagination

    def get_queryset(self) -> QuerySet[ProbeRecord]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ProbeRecord.objects.none()
        query = PackageSearchQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.package_search(
            q=query.validated_data["q"],
            verdict=query.validated_data.get("verdict"),
            thread=query.validated_data.get("thread"),
            viewer=_viewer(self.request),
            local_mode=is_local_user(self.request),
        )

    @extend_schema(
        operation_id="packages_list",
        summary="Search probe results",
        description="Public results of index packages, plus your own uploaded wheels' results; 50 per page.",
        parameters=[PackageSearchQuerySerializer],
        responses={
            200: PackageResultSerializer(many=True),
            400: _error("An invalid filter."),
            401: BAD_TOKEN,
            404: _error("No such page."),
        },
        tags=["packages"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        results = [_result_data(request, record) for record in page or ()]
        return self.get_paginated_response(PackageResultSerializer(results, many=True).data)


def _result_data(request: Request, record: ProbeRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "verdict": record.verdict,
        "fork_aware": record.fork_aware,
        "python": record.python,
        "platform": record.platform,
        "created": record.created,
        "private": not record.is_public,
        "url": _version_url(request, record),
    }


_NAME_PARAMETER = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Any spelling.")


class PackageDetailView(APIView):
    @extend_schema(
        operation_id="packages_retrieve",
        summary="A package's versions, newest first, with the verdict of each",
        parameters=[_NAME_PARAMETER],
        responses={200: PackageSerializer, 401: BAD_TOKEN, 404: _error("No visible result for this package.")},
        tags=["packages"],
    )
    def get(self, request: Request, name: str) -> Response:
        records = []
        if is_package_name(name):
            records = selectors.package_versions(name=name, viewer=_viewer(request), local_mode=is_local_user(request))
        if not records:
            raise exceptions.NotFound("Package not found.")
        # One entry per version: the selector's first record of each (public first, then newest).
        per_version = {record.version: record for record in reversed(records)}
        versions = sorted(per_version.values(), key=records.index)
        body = {"name": canonicalize_name(name), "versions": [_result_data(request, r) for r in versions]}
        return Response(PackageSerializer(body).data)


class PackageVersionView(APIView):
    @extend_schema(
        operation_id="packages_version_retrieve",
        summary="One version: verdict, fork awareness, modules and findings",
        description="The top-level fields come from the public result when there is one (else the newest); "
        "`results` lists every result you may see (per Python, platform and probe depth).",
        parameters=[_NAME_PARAMETER, OpenApiParameter("version", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: PackageVersionSerializer, 401: BAD_TOKEN, 404: _error("No visible result for this version.")},
        tags=["packages"],
    )
    def get(self, request: Request, name: str, version: str) -> Response:
        records: list[ProbeRecord] = []
        if is_package_name(name) and is_version(version):
            records = selectors.package_version_detail(
                name=name, version=version, viewer=_viewer(request), local_mode=is_local_user(request)
            )
        if not records:
            raise exceptions.NotFound("Package version not found.")
        results = [_probe_detail(record) for record in records]
        preferred = results[0]
        body = {
            "name": records[0].name,
            "version": records[0].version,
            **{key: preferred[key] for key in ("verdict", "fork_aware", "modules", "findings")},
            "results": results,
        }
        return Response(PackageVersionSerializer(body).data)


def _probe_detail(record: ProbeRecord) -> dict[str, Any]:
    result = record.result if isinstance(record.result, dict) else {}
    return {
        "verdict": record.verdict,
        "fork_aware": record.fork_aware,
        "python": record.python,
        "platform": record.platform,
        "wheel_tag": record.wheel_tag,
        "deep": record.deep,
        "sandbox": record.sandbox,
        "probed": record.created,
        "private": not record.is_public,
        "error": result.get("error"),
        "modules": [_module(m) for m in result.get("modules", ()) if isinstance(m, dict)],
        "findings": [finding.data for finding in record.findings.all()],
    }


def _module(data: dict[str, Any]) -> dict[str, Any]:
    module = {
        "name": str(data.get("name", "")),
        "status": str(data.get("status", "")),
        "import_seconds": float(data.get("import_seconds") or 0.0),
    }
    if "top_level" in data:
        module["top_level"] = bool(data["top_level"])
    if data.get("error"):
        module["error"] = str(data["error"])
    return module
