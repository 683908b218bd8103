"""GET /api/v1/unsafe/: the fork-unsafe packages as the web page /unsafe/ lists them, as JSON.

Public knowledge only (index results), whoever asks: the same list for everyone, most downloaded first.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from auditor import popularity, selectors
from auditor.api.serializers import ErrorSerializer
from auditor.culprits import culprit, decisive, record_findings, verified_fix

KINDS = list(selectors.FINDING_KINDS)


class UnsafeQuerySerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(
        choices=list(selectors.BROWSE_VERDICTS),
        required=False,
        default="unsafe",
        help_text="Packages whose newest probed version has this verdict.",
    )
    kind = serializers.ChoiceField(
        choices=KINDS,
        required=False,
        allow_blank=True,
        help_text="Only packages with a finding of this kind: a native or Python thread, a child process, a socket.",
    )


class CulpritSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="native thread, Python thread, child process, socket, fork trial, import.")
    name = serializers.CharField(help_text="The thread's name, the command, the address, or the import's error.")
    library = serializers.CharField(help_text="A native thread's well-known library (OpenBLAS), or empty.")
    library_file = serializers.CharField(help_text="The shared object the thread runs in, or empty.")
    fix = serializers.CharField(help_text="The variables verified to stop it (OPENBLAS_NUM_THREADS=1), or empty.")


class UnsafePackageSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Canonical (PEP 503) name.")
    version = serializers.CharField(help_text="Its newest probed version.")
    verdict = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True, help_text="Its rank among PyPI's most downloaded; null if none.")
    culprits = CulpritSerializer(many=True, help_text="What makes the verdict, most important first.")
    fix = serializers.CharField(
        allow_null=True, help_text="Variables verified to stop every culprit; null: import it after the fork instead."
    )
    url = serializers.URLField(allow_null=True, help_text="This version's findings in the API.")


class UnsafePagination(PageNumberPagination):
    page_size = 50


class UnsafePackagesView(GenericAPIView):
    serializer_class = UnsafePackageSerializer
    pagination_class = UnsafePagination

    @extend_schema(
        operation_id="unsafe_list",
        summary="The fork-unsafe packages, most downloaded first",
        description="Public packages whose newest probed version is unsafe (or, with `verdict`, caution or error), "
        "each with what it leaves behind after its import and the verified fix; 50 per page.",
        parameters=[UnsafeQuerySerializer],
        responses={
            200: UnsafePackageSerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="An invalid filter."),
            404: OpenApiResponse(ErrorSerializer, description="No such page."),
        },
        tags=["packages"],
    )
    def get(self, request: Request) -> Response:
        query = UnsafeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = selectors.packages_by_verdict(
            verdict=query.validated_data["verdict"],
            kind=query.validated_data.get("kind") or None,
            ranks=popularity.popularity_ranks(),
        )
        page = self.paginate_queryset(entries) or []  # type: ignore[arg-type]
        ranks = {entry.record_id: entry.rank for entry in page}
        rows = [_row(request, record, ranks.get(record.pk)) for record in selectors.browse_records(entries=page)]
        return self.get_paginated_response(UnsafePackageSerializer(rows, many=True).data)


def _row(request: Request, record: Any, rank: int | None) -> dict[str, Any]:
    found = decisive(record.verdict, record_findings(record))
    try:
        url: str | None = request.build_absolute_uri(
            reverse("api:package-version", kwargs={"name": record.name, "version": record.version})
        )
    except NoReverseMatch:  # a version that cannot be in a URL
        url = None
    return {
        "name": record.name,
        "version": record.version,
        "verdict": record.verdict,
        "rank": rank,
        "culprits": [vars(culprit(finding)) for finding in found],
        "fix": verified_fix(found) or None,
        "url": url,
    }
