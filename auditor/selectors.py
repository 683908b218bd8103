"""Reads, with the visibility rules (docs/sandbox.md) applied in one place.

- Probe results from the public index are public. A result for a distribution from an uploaded wheel is visible only
  to its owner; such results sit beside public ones (a different origin), never in their place.
- An audit is visible to its owner and to staff. An audit without an owner (CLI, single-user local mode) is visible
  only in local mode.
- `local_mode` (the embedded single-user service) also shows private results without an owner.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Length
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.core.cache import ANY_WHEEL_TAG, ProbeKey
from auditor.models import INDEX_ORIGIN, Audit, AuditDistribution, FindingRecord, ProbeRecord, probe_key_lookup
from auditor.popularity import popularity_order

Viewer = AbstractBaseUser | AnonymousUser | None


def _authenticated(viewer: Viewer) -> bool:
    return viewer is not None and bool(viewer.is_authenticated)


def probe_record_get(*, key: ProbeKey) -> ProbeRecord | None:
    """The record stored under `key`, whoever may see it (for the pipeline's cache, not for display).

    With wheel_tag ANY_WHEEL_TAG: the newest record of that version for any wheel tag.
    """
    lookup = probe_key_lookup(key)
    if key.wheel_tag == ANY_WHEEL_TAG:
        del lookup["wheel_tag"]
    return ProbeRecord.objects.filter(**lookup).order_by("-created").first()


def _visible_probe_records(*, viewer: Viewer, local_mode: bool) -> QuerySet[ProbeRecord]:
    visible = Q(origin=INDEX_ORIGIN)
    if _authenticated(viewer):
        visible |= Q(owner_id=viewer.pk)  # type: ignore[union-attr]
    if local_mode:
        visible |= Q(owner__isnull=True)
    # Public first wherever records of one name are listed together, so a private result never hides the public one.
    return ProbeRecord.objects.filter(visible).annotate(
        public=Case(When(origin=INDEX_ORIGIN, then=Value(True)), default=Value(False))
    )


def package_search(
    *,
    q: str = "",
    verdict: str | None = None,
    thread: str | None = None,
    kind: str | None = None,
    viewer: Viewer = None,
    local_mode: bool = False,
) -> QuerySet[ProbeRecord]:
    """Probe records the viewer may see, one per stored result, ordered by name, public first, newest first.

    `q` matches part of the (canonicalized) name; `thread` part of a thread name (case-insensitive); `kind` a
    finding kind. `thread` and `kind` must hold for the same finding.
    """
    records = _visible_probe_records(viewer=viewer, local_mode=local_mode)
    if q.strip():
        records = records.filter(name__contains=canonicalize_name(q.strip()))
    if verdict:
        records = records.filter(verdict=verdict)
    if thread or kind:
        findings = FindingRecord.objects.filter(probe=OuterRef("pk"))
        if thread:
            findings = findings.filter(thread__icontains=thread)
        if kind:
            findings = findings.filter(kind=kind)
        records = records.filter(Exists(findings))
    return records.select_related("owner").order_by("name", "-public", "-created", "-id")


def package_versions(*, name: str, viewer: Viewer = None, local_mode: bool = False) -> list[ProbeRecord]:
    """Every visible record of one distribution: newest version first, then public first, then newest result."""
    records = list(
        _visible_probe_records(viewer=viewer, local_mode=local_mode)
        .filter(name=canonicalize_name(name))
        .order_by("-public", "-created", "-id")
    )
    # Stable sort: within a version the database's order (public first, newest) is kept.
    records.sort(key=lambda record: _version_order(record.version), reverse=True)
    return records


def _version_order(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:  # legacy version strings sort below every valid one
        return (0, version)


def package_version_detail(
    *, name: str, version: str, viewer: Viewer = None, local_mode: bool = False
) -> list[ProbeRecord]:
    """The visible records of one version (one per Python, platform, depth, origin), findings prefetched.

    The version as given, else normalized (`2.04` finds `2.4`). Public first, then newest; empty if the viewer may
    see none.
    """
    visible = _visible_probe_records(viewer=viewer, local_mode=local_mode).filter(name=canonicalize_name(name))
    for spelling in _version_spellings(version):
        records = list(
            visible.filter(version=spelling).prefetch_related("findings").order_by("-public", "-created", "-id")
        )
        if records:
            return records
    return []


def _version_spellings(version: str) -> list[str]:
    try:
        normalized = str(Version(version))
    except InvalidVersion:
        return [version]
    return list(dict.fromkeys([version, normalized]))


def _audit_visible(audit: Audit, *, viewer: Viewer, local_mode: bool) -> bool:
    if audit.owner_id is None:
        return local_mode
    if not _authenticated(viewer):
        return False
    return audit.owner_id == viewer.pk or bool(getattr(viewer, "is_staff", False))  # type: ignore[union-attr]


def audit_get_for_viewer(*, audit_id: uuid.UUID | str, viewer: Viewer, local_mode: bool) -> Audit | None:
    """The audit if the viewer may see it; None if it does not exist or may not be seen (callers answer 404 to both,
    so that an audit's existence is not revealed)."""
    try:
        audit_uuid = audit_id if isinstance(audit_id, uuid.UUID) else uuid.UUID(str(audit_id))
    except ValueError:
        return None
    audit = Audit.objects.filter(pk=audit_uuid).first()
    if audit is None or not _audit_visible(audit, viewer=viewer, local_mode=local_mode):
        return None
    return audit


def audit_list_for_viewer(*, viewer: Viewer, local_mode: bool) -> QuerySet[Audit]:
    """The audits the viewer may see, newest first (staff see every owned audit)."""
    if _authenticated(viewer):
        is_staff = bool(getattr(viewer, "is_staff", False))
        visible = Q(owner__isnull=False) if is_staff else Q(owner_id=viewer.pk)  # type: ignore[union-attr]
    else:
        visible = Q(pk__in=[])
    if local_mode:
        visible |= Q(owner__isnull=True)
    return Audit.objects.filter(visible).order_by("-created")


def audit_distribution_list(*, audit_id: uuid.UUID | str, status: str | None = None) -> QuerySet[AuditDistribution]:
    """An audit's distributions by name, with their probe records (for tasks and for building the report)."""
    distributions = AuditDistribution.objects.filter(audit_id=audit_id).select_related("probe")
    if status is not None:
        distributions = distributions.filter(status=status)
    return distributions.order_by("name")


# --- browsing the public knowledge base ---------------------------------------------------------------------------
#
# These pages show public knowledge only (index results), whoever looks: what a viewer uploaded is on their audits'
# pages and in search, never among "the fork-unsafe packages of PyPI".

BROWSE_VERDICTS = ("unsafe", "caution", "error")
# What a finding left behind or did, as the browsing filters name it.
FINDING_KINDS: dict[str, Q] = {
    "native": Q(kind="thread-on-import", native=True),
    "python": Q(kind="thread-on-import", native=False),
    "process": Q(kind="process-on-import"),
    "socket": Q(kind="socket-on-import"),
}
_CHUNK = 500  # names per IN (...): far below SQLite's limit on query parameters
PULLED_IN_BY_AUDITS = 500  # the newest audits that hold a package whose graphs are read for its requirers
SUGGESTIONS = 5


@dataclass(frozen=True)
class BrowseEntry:
    """A package in the browsing list: the result that stands for it, and its popularity rank (None: unranked)."""

    record: ProbeRecord
    rank: int | None


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _newest_public_records(names: list[str]) -> dict[str, int]:
    """{name: id of the record that stands for it}: its newest probed version, and of that version's public results
    the newest stored."""
    best: dict[str, tuple[tuple[int, Any], Any, int]] = {}
    for chunk in _chunks(names):
        rows = ProbeRecord.objects.filter(origin=INDEX_ORIGIN, name__in=chunk).values_list(
            "id", "name", "version", "created"
        )
        for record_id, name, version, created in rows:
            candidate = (_version_order(version), created, record_id)
            if name not in best or candidate > best[name]:
                best[name] = candidate
    return {name: candidate[2] for name, candidate in best.items()}


def packages_by_verdict(
    *, verdict: str = "unsafe", kind: str | None = None, ranks: dict[str, int] | None = None
) -> list[BrowseEntry]:
    """The public packages whose newest probed version has `verdict` (and, with `kind`, a finding of that kind: a
    key of FINDING_KINDS), most popular first by `ranks` ({name: rank}), the unranked after them by name.

    A package whose older versions were unsafe but whose newest is not is not listed: the list says what installing
    it today does."""
    candidates = ProbeRecord.objects.filter(origin=INDEX_ORIGIN, verdict=verdict)
    if kind:
        candidates = candidates.filter(Exists(FindingRecord.objects.filter(FINDING_KINDS[kind], probe=OuterRef("pk"))))
    matching = dict(candidates.values_list("id", "name"))
    newest = _newest_public_records(sorted(set(matching.values())))
    ids = [record_id for record_id in newest.values() if record_id in matching]
    records: list[ProbeRecord] = []
    for chunk in _chunks(ids):
        records += ProbeRecord.objects.filter(pk__in=chunk).defer("result").prefetch_related("findings")
    ranks = ranks or {}
    records.sort(key=lambda record: popularity_order(record.name, ranks))
    return [BrowseEntry(record=record, rank=ranks.get(record.name)) for record in records]


def dataset_numbers() -> dict[str, int]:
    """How much the public knowledge base holds: packages and versions probed, and packages whose newest version is
    unsafe (as `packages_by_verdict` lists them)."""
    public = ProbeRecord.objects.filter(origin=INDEX_ORIGIN)
    return {
        "packages": public.values("name").distinct().count(),
        "versions": public.values("name", "version").distinct().count(),
        "unsafe": len(packages_by_verdict(verdict="unsafe")),
    }


def package_pulled_in_by(*, name: str, limit: int = PULLED_IN_BY_AUDITS) -> list[str]:
    """The public packages that require `name` in the stored dependency graphs of audits, by name.

    An edge is public knowledge when both ends came from the index in that audit (the requirements metadata of
    index packages is public): an uploaded wheel, or a package that requires one, is private to its uploader and
    never named, and only requirers with a public result of their own are named. The newest `limit` audits that
    hold `name` are read.
    """
    canonical = canonicalize_name(name)
    audits = (
        Audit.objects.filter(distributions__name=canonical).order_by("-created").values_list("graph", "options")[:limit]
    )
    requirers: set[str] = set()
    for graph, options in audits:
        private = (options or {}).get("origins") or {}
        if canonical in private:
            continue
        for edge in (graph or {}).get("edges") or ():
            if len(edge) == 2 and edge[1] == canonical and edge[0] not in private and edge[0] != canonical:
                requirers.add(edge[0])
    public: set[str] = set()
    for chunk in _chunks(sorted(requirers)):
        public.update(ProbeRecord.objects.filter(origin=INDEX_ORIGIN, name__in=chunk).values_list("name", flat=True))
    return sorted(public)


def package_name_suggestions(*, q: str, viewer: Viewer = None, local_mode: bool = False) -> list[str]:
    """The names of visible packages closest to `q` (a typo of one), closest first: difflib's ratio, which works on
    every database."""
    wanted = canonicalize_name(q.strip())
    if not wanted:
        return []
    # Names much longer or shorter than the query cannot be close enough (difflib's cutoff 0.6 bounds the length).
    shortest, longest = max(1, len(wanted) // 2), len(wanted) * 2 + 2
    names = (
        _visible_probe_records(viewer=viewer, local_mode=local_mode)
        .annotate(name_length=Length("name"))
        .filter(name_length__gte=shortest, name_length__lte=longest)
        .values_list("name", flat=True)
        .distinct()
    )
    return difflib.get_close_matches(wanted, list(names), n=SUGGESTIONS, cutoff=0.6)
