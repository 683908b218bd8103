"""Input validation and output shapes of the API. Input serializers only check form (types, sizes, which fields);
the meaning of the input (requirements syntax, wheel validity) is checked by the workflow, which names file and line.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from auditor.api.errors import ERROR_CODES, too_large
from auditor.core.findings import AuditReport, Verdict
from auditor.core.report.describe import fix_steps, headline_text, plain
from auditor.core.report.paths import strip_in
from auditor.models import Audit

VERDICTS = [verdict.value for verdict in Verdict]
FILE_NAME_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- input -------------------------------------------------------------------------------------------------------


class _UploadField(serializers.FileField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=FILE_NAME_LENGTH, allow_empty_file=True, **kwargs)

    def to_internal_value(self, data: Any) -> UploadedFile:
        upload = super().to_internal_value(data)
        if _CONTROL.search(upload.name or ""):
            raise serializers.ValidationError("The file name contains control characters.", code="invalid")
        return upload


class AuditSubmitSerializer(serializers.Serializer):
    """What POST /audits/ accepts, as JSON or multipart: exactly one of the three inputs."""

    requirements = serializers.CharField(
        required=False,
        allow_blank=True,  # a web form's empty text area beside a file: not given
        trim_whitespace=False,
        help_text="A requirements file's text (sent as one file named requirements.txt).",
    )
    requirements_file = serializers.ListField(
        child=_UploadField(),
        required=False,
        allow_empty=False,
        help_text="Requirements files (multipart only): the first is the main one; the others may be included "
        "by it with -r/-c, by file name. Or one lock file, known by its name: uv.lock, pylock.toml, "
        "pylock.<name>.toml, poetry.lock or Pipfile.lock (its default dependencies).",
    )
    wheels = serializers.ListField(
        child=_UploadField(),
        required=False,
        allow_empty=False,
        help_text="Wheel files (multipart only), each a direct requirement.",
    )
    shallow = serializers.BooleanField(
        required=False, default=False, help_text="Import top-level modules only, not every public submodule."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in ("requirements", "requirements_file", "wheels") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                "Give exactly one of requirements, requirements_file or wheels"
                + (f" (got {', '.join(given)})." if given else "."),
                code="invalid_input_choice",
            )
        # Content-Length was checked before the body was read; this also holds whatever the header said.
        limit = settings.FORKAUDIT_MAX_UPLOAD_BYTES
        uploads = [*attrs.get("requirements_file", ()), *attrs.get("wheels", ())]
        if sum(upload.size or 0 for upload in uploads) > limit:
            raise too_large(limit)
        return attrs

    def files(self) -> dict[str, list[tuple[str, bytes]]]:
        """The validated input as the workflow takes it: `requirements` or `wheels`, (file name, content) pairs."""
        data = self.validated_data
        if data.get("requirements"):
            return {"requirements": [("requirements.txt", data["requirements"].encode("utf-8"))]}
        if data.get("requirements_file"):
            return {"requirements": [(upload.name, upload.read()) for upload in data["requirements_file"]]}
        return {"wheels": [(upload.name, upload.read()) for upload in data["wheels"]]}


class AuditSubmitJsonSerializer(serializers.Serializer):
    """The JSON form of a submission (for the schema)."""

    requirements = serializers.CharField(help_text="A requirements file's text.")
    shallow = serializers.BooleanField(required=False, default=False, help_text="Import top-level modules only.")


class AuditSubmitMultipartSerializer(AuditSubmitSerializer):
    """The multipart form of a submission (for the schema): one of requirements, requirements_file, wheels."""


class PackageSearchQuerySerializer(serializers.Serializer):
    """Search filters; an empty one (as a web form sends it) filters nothing."""

    q = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=200, help_text="Part of a package name."
    )
    verdict = serializers.ChoiceField(
        choices=VERDICTS, required=False, allow_blank=True, help_text="Only results with this verdict."
    )
    thread = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Part of the name of a thread started on import (case-insensitive).",
    )


# --- output ------------------------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.ChoiceField(
        choices=sorted(ERROR_CODES), help_text="A stable machine-readable code, e.g. not_found, invalid, throttled."
    )
    errors = serializers.DictField(required=False, help_text="Validation errors by field (400 only).")


class AuditCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Audit.Status.choices)
    url = serializers.URLField(help_text="This audit in the API.")
    web_url = serializers.URLField(help_text="This audit's web page.")


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Distributions analysed so far.")
    total = serializers.IntegerField(help_text="Distributions to analyse (0 until the requirements are resolved).")


class FixSerializer(serializers.Serializer):
    env = serializers.DictField(
        child=serializers.CharField(), help_text="The variables to set before the application imports anything."
    )
    fixed = serializers.ListField(child=serializers.CharField(), help_text="Unsafe distributions they fix (verified).")
    unfixed = serializers.ListField(
        child=serializers.CharField(), help_text="Unsafe distributions no verified variable fixes: import after fork."
    )
    steps = serializers.ListField(
        child=serializers.CharField(),
        help_text="What to do, in full: where to set the variables so that they hold before the import, how to "
        "import the others after the fork. Configuration names and free text from packages are in backticks.",
    )


def _done_report(audit: dict[str, Any]) -> AuditReport | None:
    try:
        return AuditReport.from_dict(audit["report"]) if audit.get("report") else None
    except (KeyError, TypeError, ValueError):  # written by an incompatible version: the report is still shown
        return None


class DistributionProgressSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    state = serializers.ChoiceField(
        choices=["queued", "probing", "done"],
        help_text="queued until a worker probes it (probing), done once its result is in (probed, or reused).",
    )
    verdict = serializers.ChoiceField(choices=VERDICTS, allow_null=True, help_text="Once done.")
    cached = serializers.BooleanField(help_text="Its result was reused from an earlier probe.")
    modules = serializers.IntegerField(
        allow_null=True, help_text="Modules it is importing while probing; those it imported, once done."
    )
    findings = serializers.ListField(
        child=serializers.CharField(), help_text="What it does that matters, most severe first (at most 3), once done."
    )


class AuditSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Audit.Status.choices)
    progress = ProgressSerializer()
    distributions = DistributionProgressSerializer(
        many=True, help_text="Each resolved distribution's state, findings as they land (empty until resolved)."
    )
    elapsed_seconds = serializers.FloatField(help_text="Since it was submitted (until it finished).")
    verdict = serializers.ChoiceField(choices=VERDICTS, allow_null=True, help_text="The worst verdict, when done.")
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Why the audit failed, when it failed.")
    failure_code = serializers.ChoiceField(
        choices=Audit.FailureCode.choices,
        allow_null=True,
        help_text="Why the audit failed, for programs, when it failed: bad-input and resolution-failed are the "
        "input's fault (forkaudit check exits 2), the others the server's (exit 3).",
    )
    headline = serializers.SerializerMethodField(
        help_text="When done: the culprit(s), what pulled each in and the fix, on one line (e.g. 'numpy 2.4.6 "
        "(pulled in by pandas) leaves an OpenBLAS thread running after import — fix: OPENBLAS_NUM_THREADS=1 "
        "(verified)'), or that nothing is wrong. Free text from packages is in backticks."
    )
    fix = serializers.SerializerMethodField(help_text="When done: what to do about the unsafe distributions.")
    report = serializers.SerializerMethodField(
        help_text="The JSON report (schema forkaudit-report/1), when done; the server's own paths (its interpreter's "
        "prefix, the audit's work directory) made relative."
    )
    url = serializers.URLField()
    web_url = serializers.URLField()

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_report(self, audit: dict[str, Any]) -> dict[str, Any] | None:
        return strip_in(audit["report"]) if audit.get("report") is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_headline(self, audit: dict[str, Any]) -> str | None:
        report = _done_report(audit)
        return headline_text(report) if report else None

    @extend_schema_field(FixSerializer(allow_null=True))
    def get_fix(self, audit: dict[str, Any]) -> dict[str, Any] | None:
        report = _done_report(audit)
        if report is None:
            return None
        return {**report.fix().to_dict(), "steps": [plain(step) for step in fix_steps(report)]}


class PackageResultSerializer(serializers.Serializer):
    """One stored probe result, as search and package pages list it."""

    name = serializers.CharField(help_text="Canonical (PEP 503) name.")
    version = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS)
    fork_aware = serializers.BooleanField(help_text="Registers at-fork handlers.")
    python = serializers.CharField(help_text="Python version probed under.")
    platform = serializers.CharField()
    probed = serializers.DateTimeField(source="created", help_text="When this result was stored.")
    private = serializers.BooleanField(help_text="From a wheel you uploaded (visible to you only).")
    url = serializers.URLField(help_text="This version's findings in the API.")


class PackageSerializer(serializers.Serializer):
    name = serializers.CharField()
    versions = PackageResultSerializer(many=True, help_text="One per version, newest first.")


class ModuleSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField(help_text="ok, import-error, timeout, memory, crash, exit or skipped.")
    import_seconds = serializers.FloatField()
    top_level = serializers.BooleanField(required=False)
    error = serializers.CharField(required=False)


class ProbeDetailSerializer(serializers.Serializer):
    """One probe result of a version, with its modules and findings."""

    verdict = serializers.ChoiceField(choices=VERDICTS)
    fork_aware = serializers.BooleanField()
    python = serializers.CharField()
    platform = serializers.CharField()
    wheel_tag = serializers.CharField()
    deep = serializers.BooleanField(help_text="Public submodules were probed too.")
    sandbox = serializers.CharField()
    probed = serializers.DateTimeField()
    private = serializers.BooleanField()
    error = serializers.CharField(allow_null=True, help_text="Why the distribution could not be probed, if so.")
    modules = ModuleSerializer(many=True)
    findings = serializers.ListField(
        child=serializers.DictField(), help_text='Findings as in the JSON report, each with a "kind".'
    )


class PackageVersionSerializer(serializers.Serializer):
    """A version's verdict and findings, from its preferred result (public first, then newest), and every result
    the viewer may see."""

    name = serializers.CharField()
    version = serializers.CharField()
    verdict = serializers.ChoiceField(choices=VERDICTS)
    fork_aware = serializers.BooleanField()
    modules = ModuleSerializer(many=True)
    findings = serializers.ListField(child=serializers.DictField())
    results = ProbeDetailSerializer(many=True, help_text="Every visible result (per Python, platform, depth).")
