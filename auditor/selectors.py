"""Reads, with the visibility rules (docs/sandbox.md) applied in one place.

- Probe results from the public index are public. A result for a distribution from an uploaded wheel is visible only
  to its owner; such results sit beside public ones (a different origin), never in their place.
- An audit is visible to its owner and to staff. An audit without an owner (CLI, single-user local mode) is visible
  only in local mode.
- `local_mode` (the embedded single-user service) also shows private results without an owner.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Case, Q, QuerySet, Value, When
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.core.cache import ANY_WHEEL_TAG, ProbeKey
from auditor.memo import FingerprintMemo, once_per_request
from auditor.models import (
    INDEX_ORIGIN,
    Audit,
    AuditDistribution,
    FindingRecord,
    ProbeRecord,
    ResultsVersion,
    probe_key_lookup,
)
from auditor.names import NameCatalogue, NameIndex, Rows, closest
from auditor.names import Version as RowsVersion
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


def probe_record_for(*, key: ProbeKey, owner_id: int | None) -> ProbeRecord | None:
    """The record stored under `key` if an audit of `owner_id` may reuse it: a public result, or a private one of
    its own. The one rule for the pipeline's cache, in the CLI and in the service. (The origin in the key already
    names the uploader; this holds even if two owners' origins were to collide.)"""
    record = probe_record_get(key=key)
    if record is not None and not record.is_public and record.owner_id != owner_id:
        return None
    return record


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
    """Probe records the viewer may see, one per stored result, ordered by name, public first, newest first, without
    their stored `result` (`.defer(None)` loads it).

    `q` matches part of the (canonicalized) name; `thread` part of a thread name (case-insensitive); `kind` a
    finding kind. `thread` and `kind` must hold for the same finding.
    """
    records = _visible_probe_records(viewer=viewer, local_mode=local_mode)
    if q.strip():
        needle = canonicalize_name(q.strip())
        names = PUBLIC_NAMES.get().containing(needle)
        names += [name for name in _private_names(viewer=viewer, local_mode=local_mode) if needle in name]
        if len(names) <= NAMES_LOOKED_UP:
            records = records.filter(name__in=names)  # a few index lookups instead of reading every name
        else:
            records = records.filter(name__contains=needle)
    if verdict:
        records = records.filter(verdict=verdict)
    if thread or kind:
        # One pass over the findings rather than a lookup per record: far fewer findings match than records exist.
        findings = FindingRecord.objects.all()
        if thread:
            findings = findings.filter(thread__icontains=thread)
        if kind:
            findings = findings.filter(kind=kind)
        records = records.filter(pk__in=findings.values("probe_id"))
    # Without the stored result (up to hundreds of KB each), which neither the page nor the API shows.
    records = records.select_related("owner").defer("result")
    if not _authenticated(viewer) and not local_mode:
        # Public records only: "public first" orders nothing, and without it the (origin, name) index gives the order.
        return records.order_by("name", "-created", "-id")
    return records.order_by("name", "-public", "-created", "-id")


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


@functools.lru_cache(maxsize=65536)  # lists of many packages parse the same few thousand version strings again
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
PULLED_IN_BY_AUDITS = 100  # the newest audits holding a package whose graphs are read (each may be 100 KB)
PULLED_IN_BY_SHOWN = 500  # requirers named at most
SUGGESTIONS = 5
NAMES_LOOKED_UP = 1000  # a search matching more names than this reads every name (LIKE): it is then worth it


@dataclass(frozen=True)
class BrowseEntry:
    """A package in the browsing list: the id of the result that stands for it, and its popularity rank."""

    name: str
    record_id: int
    rank: int | None  # None: not in the ranking


def _newest_public_records(names: QuerySet[ProbeRecord]) -> dict[str, int]:
    """{name: id of the record that stands for it} for the names `names` selects: its newest probed version, and of
    that version's public results (one per Python, platform, depth) the last one added."""
    best: dict[str, tuple[tuple[int, Any], int]] = {}
    # Not `created`: turning 100,000 timestamps into datetimes costs more than the query.
    rows = (
        ProbeRecord.objects.filter(origin=INDEX_ORIGIN, name__in=names).order_by().values_list("id", "name", "version")
    )
    for record_id, name, version in rows:
        candidate = (_version_order(version), record_id)
        if name not in best or candidate > best[name]:
            best[name] = candidate
    return {name: candidate[1] for name, candidate in best.items()}


def packages_by_verdict(
    *, verdict: str = "unsafe", kind: str | None = None, ranks: dict[str, int] | None = None
) -> list[BrowseEntry]:
    """The public packages whose newest probed version has `verdict` (and, with `kind`, a finding of that kind: a
    key of FINDING_KINDS), most popular first by `ranks` ({name: rank}), the unranked after them by name.

    A package whose older versions were unsafe but whose newest is not is not listed: the list says what installing
    it today does. Light (names and ids): `browse_records` loads the records of the page shown.
    """
    listed: dict[str, int] = BROWSING.get(("by-verdict", verdict, kind), lambda: _listed(verdict, kind))
    ranks = ranks or {}
    names = sorted(listed, key=lambda name: popularity_order(name, ranks))
    return [BrowseEntry(name=name, record_id=listed[name], rank=ranks.get(name)) for name in names]


def _listed(verdict: str, kind: str | None) -> dict[str, int]:
    """{name: id of its newest version's record} of the packages `packages_by_verdict` lists."""
    candidates = ProbeRecord.objects.filter(origin=INDEX_ORIGIN, verdict=verdict)
    if kind:
        candidates = candidates.filter(pk__in=FindingRecord.objects.filter(FINDING_KINDS[kind]).values("probe_id"))
    matching = set(candidates.order_by().values_list("id", flat=True))
    newest = _newest_public_records(candidates.order_by().values("name"))
    return {name: record_id for name, record_id in newest.items() if record_id in matching}


def browse_records(*, entries: list[BrowseEntry]) -> list[ProbeRecord]:
    """The records of `entries`, in their order, with their findings (without the stored result, which is large)."""
    records = ProbeRecord.objects.filter(pk__in=[entry.record_id for entry in entries])
    by_id = {record.pk: record for record in records.defer("result").prefetch_related("findings")}
    return [by_id[entry.record_id] for entry in entries if entry.record_id in by_id]


def dataset_numbers() -> dict[str, int]:
    """How much the public knowledge base holds: packages and versions probed, and packages whose newest version is
    unsafe (as `packages_by_verdict` lists them)."""
    public = ProbeRecord.objects.filter(origin=INDEX_ORIGIN)
    return BROWSING.get(
        "dataset-numbers",
        lambda: {
            "packages": public.values("name").distinct().count(),
            "versions": public.values("name", "version").distinct().count(),
            "unsafe": len(packages_by_verdict(verdict="unsafe")),
        },
    )


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
    public = ProbeRecord.objects.filter(origin=INDEX_ORIGIN, name__in=sorted(requirers)[:PULLED_IN_BY_SHOWN])
    return sorted(set(public.values_list("name", flat=True)))


def results_version() -> RowsVersion:
    """The results' version (`ResultsVersion`: changed by the database with every write to the results), or None if
    the row is gone; read once per request."""
    return once_per_request("results-version", _results_version_read)


def _results_version_read() -> RowsVersion:
    return ResultsVersion.objects.filter(pk=1).values_list("changes", "removals").first()


def _public_names_read(after: int | None) -> Rows:
    """The public names (with how many public results) of the results after the id `after` (None: of all), and
    what `NameCatalogue` checks the results up to it by, in one statement: one snapshot of the database.

    Each figure is a subquery of its own, found by an index: SQLite finds a lone MAX by an index, not two together;
    it counts every result from its smallest index but those up to an id by reading the table (11 ms at 100,000
    results), so these are every result less those after it; and the newest time up to `after` is an ORDER BY on the
    `created` index, which SQLite would not use for a MAX with a condition on the id. The names after `after` are
    found by the id, not by the origin's index, which holds every public result.
    """
    table = connection.ops.quote_name(ProbeRecord._meta.db_table)
    version = connection.ops.quote_name(ResultsVersion._meta.db_table)
    summary = [
        "NULL",
        f"(SELECT COUNT(*) FROM {table})",
        f"(SELECT COUNT(*) FROM {table} WHERE id > %s)" if after is not None else "NULL",
        f"(SELECT created FROM {table} WHERE id <= %s ORDER BY created DESC LIMIT 1)" if after is not None else "NULL",
        f"(SELECT MAX(id) FROM {table})",
        f"(SELECT created FROM {table} ORDER BY created DESC LIMIT 1)",
        f"(SELECT changes FROM {version} WHERE id = 1)",
        f"(SELECT removals FROM {version} WHERE id = 1)",
    ]
    padding = ", NULL" * (len(summary) - 2)  # a name and its count, in the summary's columns
    if after is None:
        names = f"SELECT name, COUNT(*){padding} FROM {table} WHERE origin = %s GROUP BY name"
        params: list[Any] = [INDEX_ORIGIN]
    else:
        # One row per result (grouped here): SQLite would GROUP BY along the unique key's index, all of it.
        names = f"SELECT name, CASE WHEN origin = %s THEN 1 ELSE 0 END{padding} FROM {table} WHERE id > %s"
        params = [after, after, INDEX_ORIGIN, after]
    sql = f"SELECT {', '.join(summary)} UNION ALL {names}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # The summary is the row without a name (a result always has one).
    _, total, added, newest_kept, last, newest, changes, removals = next(row for row in rows if row[0] is None)
    added = total if added is None else added
    public: Counter[str] = Counter()
    for row in rows:
        if row[0] is not None and row[1]:
            public[row[0]] += row[1]
    return Rows(
        version=None if changes is None else (changes, removals),
        names=list(public.items()),
        added=added,
        last=last,
        newest=newest,
        kept=total - added,
        newest_kept=newest_kept,
    )


# The public names, kept by each process while the results stay as they were (auditor/names.py).
PUBLIC_NAMES = NameCatalogue(version=results_version, read=_public_names_read)
# The browsing lists and the dataset's numbers, kept by each process while the results stay as they were.
BROWSING = FingerprintMemo(results_version)


def package_search_count(
    *,
    q: str = "",
    verdict: str | None = None,
    thread: str | None = None,
    viewer: Viewer = None,
    local_mode: bool = False,
) -> int | None:
    """How many results `package_search` finds, from the kept names when it can tell without a query (every result,
    or a search by name only, of public results only), else None: counting a search for a word many names contain,
    or every result, would read them all again."""
    if verdict or thread or _authenticated(viewer) or local_mode:
        return None
    names = PUBLIC_NAMES.get()
    if not q.strip():
        return names.total
    return sum(names.rows[name] for name in names.containing(canonicalize_name(q.strip())))


def _private_names(*, viewer: Viewer, local_mode: bool) -> list[str]:
    """The names of the private results the viewer may see: their own uploads (few), read each time."""
    if not _authenticated(viewer) and not local_mode:
        return []
    private = Q(origin__lt=INDEX_ORIGIN) | Q(origin__gt=INDEX_ORIGIN)
    visible = _visible_probe_records(viewer=viewer, local_mode=local_mode).filter(private)
    return list(visible.order_by().values_list("name", flat=True).distinct())


def package_name_suggestions(*, q: str, viewer: Viewer = None, local_mode: bool = False) -> list[str]:
    """The names of visible packages closest to `q` (a typo of one), closest first."""
    wanted = canonicalize_name(q.strip())
    if not wanted:
        return []
    candidates = PUBLIC_NAMES.get().candidates(wanted)
    candidates += NameIndex(_private_names(viewer=viewer, local_mode=local_mode)).candidates(wanted)
    return closest(wanted, candidates, SUGGESTIONS)
