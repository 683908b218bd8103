"""Forms of the web UI. Field names are the API's (`requirements`, `requirements_file`, `wheels`, `shallow`), so that
a person who moves from the form to `curl` keeps the same vocabulary."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from auditor.core.findings import Verdict

FILE_NAME_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Zero or more uploaded files, as a list (Django's FileField takes one)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(max_length=FILE_NAME_LENGTH, allow_empty_file=True, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        uploads = data if isinstance(data, list | tuple) else [data] if data else []
        cleaned = [super(MultipleFileField, self).clean(upload, initial) for upload in uploads]
        for upload in cleaned:
            if _CONTROL.search(upload.name or ""):
                raise forms.ValidationError("A file name contains control characters.", code="invalid")
        return cleaned


class AuditForm(forms.Form):
    """A new audit: requirements text, requirements files or wheels (exactly one of the three)."""

    requirements = forms.CharField(
        required=False,
        strip=False,
        label="Requirements",
        help_text="The text of a requirements file: pins, ranges, extras, markers, hashes.",
        widget=forms.Textarea(
            attrs={"rows": 8, "spellcheck": "false", "autocapitalize": "off", "placeholder": "pandas==2.2.3\nrequests"}
        ),
    )
    requirements_file = MultipleFileField(
        required=False,
        label="Requirements files",
        help_text="The first is the main file; the others may be included by it with -r or -c. Or one lock file, "
        "known by its name: uv.lock, pylock.toml, poetry.lock, Pipfile.lock.",
    )
    wheels = MultipleFileField(
        required=False,
        label="Wheels",
        help_text="A wheel set: each wheel is a direct requirement. Results stay private to you.",
        widget=MultipleFileInput(attrs={"accept": ".whl"}),
    )
    shallow = forms.BooleanField(
        required=False,
        label="Shallow: import top-level modules only, not every public submodule",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # A text area holding only blank lines (browsers send "\r\n") is no input beside a file.
        if not cleaned.get("requirements", "").strip():
            cleaned["requirements"] = ""
        given = [name for name in ("requirements", "requirements_file", "wheels") if cleaned.get(name)]
        if self.errors:
            return cleaned
        if not given:
            raise forms.ValidationError("Paste requirements, or choose requirements files or wheels.", code="no_input")
        if len(given) > 1:
            labels = ", ".join(str(self.fields[name].label).lower() for name in given)
            raise forms.ValidationError(f"Give only one kind of input, not {labels}.", code="input_choice")
        limit = settings.FORKAUDIT_MAX_UPLOAD_BYTES
        uploads = [*cleaned.get("requirements_file", ()), *cleaned.get("wheels", ())]
        if sum(upload.size or 0 for upload in uploads) > limit:
            raise forms.ValidationError(f"The files are larger than the limit of {limit:,} bytes.", code="too_large")
        return cleaned

    def audit_input(self) -> dict[str, list[tuple[str, bytes]]]:
        """The validated input as `workflow.audit_submit` takes it: `requirements` or `wheels` (name, content)."""
        data = self.cleaned_data
        if data.get("requirements"):
            return {"requirements": [("requirements.txt", data["requirements"].encode("utf-8"))]}
        if data.get("requirements_file"):
            return {"requirements": [(upload.name, upload.read()) for upload in data["requirements_file"]]}
        return {"wheels": [(upload.name, upload.read()) for upload in data["wheels"]]}


VERDICT_CHOICES = [("", "any verdict")] + [
    (v.value, v.value) for v in (Verdict.UNSAFE, Verdict.ERROR, Verdict.CAUTION, Verdict.SAFE)
]


class PackageSearchForm(forms.Form):
    """Package search filters; empty fields filter nothing."""

    q = forms.CharField(required=False, max_length=200, label="Package name")
    verdict = forms.ChoiceField(required=False, choices=VERDICT_CHOICES, label="Verdict")
