"""What the browsing pages show: the list of fork-unsafe packages (its filters and rows) and a package's verdict in
one line, why and what to do.

Everything a package controls (thread names, library files, error messages) goes through `describe`'s cleaning and
is printed by the templates with auto-escaping, as in the audit pages (webui/presenters.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.urls import NoReverseMatch, reverse

from auditor.core.findings import Finding, ForkTrial, ProcessOnImport, SocketOnImport, ThreadOnImport, Verdict
from auditor.core.report.describe import CODE_LIMIT, IMPORT_AFTER_FORK, MESSAGE_LIMIT, NAME_LIMIT, describe_finding
from auditor.core.report.sanitize import clean_text
from auditor.culprits import Culprit, culprit, decisive, record_findings, verified_fix
from auditor.models import ProbeRecord
from auditor.selectors import BROWSE_VERDICTS, FINDING_KINDS, BrowseEntry
from webui.presenters import Sentence

KIND_LABELS = {
    "native": "native thread",
    "python": "Python thread",
    "process": "child process",
    "socket": "socket",
}


def _url(url_name: str, **kwargs: str) -> str | None:
    """A link to a package page, or None when the name cannot be in a URL."""
    try:
        return reverse(url_name, kwargs=kwargs)
    except NoReverseMatch:
        return None


class CountedPaginator(Paginator):
    """A paginator told how many items there are when the caller knows without counting them in the database."""

    def __init__(self, object_list: Any, per_page: int, *, count: int | None = None) -> None:
        super().__init__(object_list, per_page)
        if count is not None:
            self.count = count  # replaces the cached property's query


class BrowseFilterForm(forms.Form):
    """The list's filters: the verdict of the newest version (unsafe unless asked), and what the findings are."""

    verdict = forms.ChoiceField(
        required=False, choices=[(verdict, verdict) for verdict in BROWSE_VERDICTS], label="Verdict"
    )
    kind = forms.ChoiceField(
        required=False,
        choices=[("", "anything")] + [(kind, KIND_LABELS[kind]) for kind in FINDING_KINDS],
        label="Left behind",
    )

    def filters(self) -> dict[str, str | None]:
        return {"verdict": self.cleaned_data["verdict"] or "unsafe", "kind": self.cleaned_data["kind"] or None}


@dataclass(frozen=True)
class BrowseRow:
    rank: int | None
    name: str
    version: str
    verdict: str
    package_url: str | None
    version_url: str | None
    culprits: list[Culprit]
    fix: str  # the settings verified to stop everything it leaves behind, or "" (then: import after the fork)


def browse_rows(entries: list[BrowseEntry], records: list[ProbeRecord]) -> list[BrowseRow]:
    """The rows of `entries` (a page of the list), from their `records` (`selectors.browse_records`)."""
    ranks = {entry.record_id: entry.rank for entry in entries}
    rows = []
    for record in records:
        found = decisive(record.verdict, record_findings(record))
        rows.append(
            BrowseRow(
                rank=ranks.get(record.pk),
                name=record.name,
                version=clean_text(record.version, NAME_LIMIT),
                verdict=record.verdict,
                package_url=_url("webui:package", name=record.name),
                version_url=_url("webui:package-version", name=record.name, version=record.version),
                culprits=[culprit(f) for f in found],
                fix=verified_fix(found),
            )
        )
    return rows


@dataclass(frozen=True)
class VerdictLine:
    """A package's verdict in one line: what its import does, and what to do about it."""

    verdict: str
    what: Sentence  # e.g. "leaves a native thread `python` (OpenBLAS) running after import"
    todo: str  # e.g. "set OPENBLAS_NUM_THREADS=1 before the import (verified)"


def _text(text: str) -> dict[str, str]:
    return {"kind": "text", "text": text}


def _what(verdict: str, found: list[Finding]) -> Sentence:
    first = found[0] if found else None
    if isinstance(first, ThreadOnImport):
        many = sum(f.count if isinstance(f, ThreadOnImport) else 1 for f in found) > 1
        kind = "native" if first.native else "Python"
        noun = f"{kind} threads" if many else f"a {kind} thread"
        sentence = [_text(f"leaves {noun} running" if first.alive_after_import else f"starts {noun}")]
        if first.thread:
            sentence += [_text(" ("), {"kind": "code", "text": clean_text(first.thread, CODE_LIMIT)}]
            if first.library:
                sentence.append(_text(f", {clean_text(first.library, NAME_LIMIT)}"))
            sentence.append(_text(")"))
        sentence.append(_text(" after import" if first.alive_after_import else " during import"))
        return sentence
    if isinstance(first, ProcessOnImport):
        return [_text("leaves a child process running after import")]
    if isinstance(first, SocketOnImport):
        return [_text("leaves a socket open after import")]
    if isinstance(first, ForkTrial):
        child = {"kind": "code", "text": clean_text(first.child, MESSAGE_LIMIT)}
        return [_text("breaks a real fork after its import: the child "), child]
    if verdict == Verdict.ERROR:
        reason = [{"kind": part.kind.value, "text": part.text} for part in describe_finding(first)] if first else []
        return [_text("could not be probed"), *([_text(": "), *reason] if reason else [])]
    return [_text("starts no thread, process or socket that outlives its import")]


def one_line(record: ProbeRecord) -> VerdictLine:
    """Why the package has its verdict and what to do, from the result that stands for its newest version."""
    found = decisive(record.verdict, record_findings(record))
    if record.verdict == Verdict.SAFE:
        todo = "nothing: it can be imported before the fork"
    elif record.verdict == Verdict.ERROR:
        todo = "audit it with your own requirements to see whether it imports there"
    else:
        fix = verified_fix(found)
        todo = f"set {fix} before the import (verified)" if fix else IMPORT_AFTER_FORK
    return VerdictLine(verdict=record.verdict, what=[*_what(record.verdict, found), _text(".")], todo=todo)
