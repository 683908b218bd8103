"""The database: probe results (reused by every audit) and audits (one team's dependency set, private to it).

Writes go through auditor/services.py and reads through auditor/selectors.py; the models only hold data and the
constraints that keep it consistent.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from packaging.utils import canonicalize_name

from auditor.core.cache import ProbeKey
from auditor.core.findings import Verdict

# The domain's verdicts are the single source; the migration records the list.
VERDICT_CHOICES = [(verdict.value, verdict.value) for verdict in Verdict]
INDEX_ORIGIN = "index"


def probe_key_lookup(key: ProbeKey) -> dict[str, Any]:
    """The ProbeRecord field values of `key` (the name canonicalized, as ProbeKey promises)."""
    return {
        "name": canonicalize_name(key.name),
        "version": key.version,
        "wheel_tag": key.wheel_tag,
        "python": key.python,
        "platform": key.platform,
        "probe_version": key.probe_version,
        "deep": key.deep,
        "origin": key.origin,
    }


def probe_record_key(record: ProbeRecord) -> ProbeKey:
    """The key `record` is stored under (the inverse of `probe_key_lookup`: the fields have the key's names)."""
    return ProbeKey(**{field.name: getattr(record, field.name) for field in dataclasses.fields(ProbeKey)})


class ProbeRecord(models.Model):
    """One probe result, keyed like `auditor.core.cache.ProbeKey`.

    Results from the public index (`origin="index"`) are public and have no owner. A result for a distribution that
    came from an uploaded wheel has its own origin (`upload:<owner>`) and an owner, so it is never mixed up with, and
    never overwrites, the public result of a same-named package.
    """

    name = models.CharField(max_length=200, help_text="Canonical (PEP 503) distribution name.")
    version = models.CharField(max_length=100)
    wheel_tag = models.CharField(max_length=1000)  # compressed tag sets grow long: semgrep 1.187.0's has 329
    python = models.CharField(max_length=32)
    platform = models.CharField(max_length=100)
    probe_version = models.CharField(max_length=32)
    deep = models.BooleanField(help_text="Public submodules probed too (false: top-level modules only).")
    origin = models.CharField(max_length=200, default=INDEX_ORIGIN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="probe_records",
        help_text="Who uploaded the wheel; empty for index results, which are public.",
    )
    verdict = models.CharField(max_length=16, choices=VERDICT_CHOICES, db_index=True)
    fork_aware = models.BooleanField(default=False)
    sandbox = models.CharField(max_length=32)
    result = models.JSONField(help_text="ProbeResult.to_dict().")
    seconds = models.FloatField(default=0.0)
    created = models.DateTimeField(default=timezone.now, help_text="When this result was stored.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version", "wheel_tag", "python", "platform", "probe_version", "deep", "origin"],
                name="probe_record_unique_key",
            ),
            # A public result must not belong to anybody: otherwise deleting a user would delete public knowledge,
            # and visibility rules could not rely on the origin alone.
            models.CheckConstraint(
                condition=~Q(origin=INDEX_ORIGIN) | Q(owner__isnull=True),
                name="probe_record_index_has_no_owner",
            ),
        ]
        indexes = [
            # A name's results and (covering) its versions: what search and the lists of packages read.
            models.Index(fields=["origin", "name", "version"], name="probe_record_origin_name_ver"),
            # Search by verdict and the browsing lists: the matching names in order, without reading the rows.
            models.Index(fields=["origin", "verdict", "name"], name="probe_record_origin_verdict"),
            # The newest result stored: part of what tells a process that the results changed (auditor/memo.py).
            models.Index(fields=["created"], name="probe_record_created"),
        ]
        ordering = ["name", "-created"]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.verdict})"

    @property
    def is_public(self) -> bool:
        return self.origin == INDEX_ORIGIN


class ResultsVersion(models.Model):
    """One row (id 1) that the database itself changes with every write to ProbeRecord, by triggers (migrations
    0010, 0011): whatever adds, replaces or removes results (a service, an import, the admin, a user's deletion and
    its cascade, a bulk or raw write) changes it in the same transaction. How a process that keeps values computed
    from the results (auditor/selectors.py) learns, with one lookup by primary key, that they changed. `removals`
    changes when a result is removed or its id, name or origin changed, not on an update that sets them as they were.

    Random values, not counters: a write rolled back (the tests' transactions) must not leave a value that a later
    write makes again. The row is made again by the next write if it is gone (`manage.py flush`). On PostgreSQL the
    triggers are deferred to the commit: a transaction that writes results takes the row as it commits, once, and
    holds it only until the commit ends, so a long one (a dataset import) does not make other writers wait. Within
    that transaction the row is as it was before it (its change comes with its commit): the values kept by the
    process that runs it may not follow its own writes until then.
    """

    changes = models.BigIntegerField(help_text="A new random value whenever a result is added, replaced or removed.")
    removals = models.BigIntegerField(
        help_text="A new random value whenever a result is removed (or its id, name or origin changed)."
    )

    def __str__(self) -> str:
        return f"results version {self.changes}/{self.removals}"


class FindingRecord(models.Model):
    """One finding of a probe result, in columns so that package search can filter by kind and thread name."""

    probe = models.ForeignKey(ProbeRecord, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=32, db_index=True)
    module = models.CharField(max_length=300, blank=True)
    thread = models.CharField(max_length=200, blank=True, db_index=True, help_text="Thread name; blank for others.")
    native = models.BooleanField(null=True, blank=True)
    alive_after_import = models.BooleanField(
        null=True,
        blank=True,
        help_text="Left behind by the import: thread or process still alive, socket still open.",
    )
    data = models.JSONField(help_text="The finding's to_dict().")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.thread or self.module}"


class Audit(models.Model):
    """One audit request and, once done, its report. Private to its owner (and staff)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class InputKind(models.TextChoices):
        REQUIREMENTS = "requirements"
        WHEELS = "wheels"

    class FailureCode(models.TextChoices):
        """Why a failed audit failed, for programs (`forkaudit check` exits 2 for the input's fault, 3 otherwise)."""

        BAD_INPUT = "bad-input", "the input was refused"
        RESOLUTION_FAILED = "resolution-failed", "the requirements cannot be resolved"
        INSTALL_FAILED = "install-failed", "the audit environment could not be made"
        SANDBOX_UNAVAILABLE = "sandbox-unavailable", "the sandbox cannot run on the worker"
        TOO_LARGE = "too-large", "the set is larger than the audit's budget (crawls only)"
        INTERNAL = "internal", "an error on the server"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audits",
        help_text="Empty for the CLI and the single-user local mode.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    input_kind = models.CharField(max_length=16, choices=InputKind.choices)
    input_text = models.TextField(help_text="The requirements text, or a JSON list of wheel file names.")
    options = models.JSONField(default=dict, blank=True, help_text="shallow, timeout, ...")
    graph = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"direct": [...], "edges": [[requirer, required], ...], "pins": {name: version}}',
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    verdict = models.CharField(max_length=16, choices=VERDICT_CHOICES, null=True, blank=True)
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    failure_code = models.CharField(
        max_length=32, choices=FailureCode.choices, blank=True, help_text="Why it failed, when it failed."
    )
    created = models.DateTimeField(default=timezone.now, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created"], name="audit_owner_created")]
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"audit {self.id} ({self.status})"


class AuditDistribution(models.Model):
    """One distribution of an audit: the unit of work that a task claims and completes."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="distributions")
    name = models.CharField(max_length=200, help_text="Canonical (PEP 503) distribution name.")
    version = models.CharField(max_length=100)
    direct = models.BooleanField(default=False)
    probe = models.ForeignKey(
        ProbeRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_distributions"
    )
    cached = models.BooleanField(default=False, help_text="The result was reused, not probed for this audit.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, help_text="Why it could not be installed, if it could not.")
    probing_since = models.DateTimeField(null=True, blank=True, help_text="When a worker started probing it.")
    modules_to_import = models.PositiveIntegerField(null=True, blank=True, help_text="What its probe imports.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audit", "name"], name="audit_distribution_unique_name")]
        indexes = [
            models.Index(fields=["audit", "status"], name="audit_distribution_status"),
            models.Index(fields=["name"], name="audit_distribution_name"),  # the audits that hold a package
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class AuditUpload(models.Model):
    """A file submitted with an audit, kept in the database so that a worker on any machine can rebuild the audit's
    environment: the requirements files (the first is the main one) or the wheels."""

    class Kind(models.TextChoices):
        REQUIREMENTS = "requirements"
        WHEEL = "wheel"

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="uploads")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    filename = models.CharField(max_length=255)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename


class ProbeClaim(models.Model):
    """A probe under way somewhere: two audits that need the same distribution version probe it once."""

    key = models.CharField(max_length=64, unique=True, help_text="sha256 of the ProbeKey.")
    holder = models.CharField(max_length=300, help_text="host:pid of the worker probing it.")
    claimed = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class Crawl(models.Model):
    """One run of `forkaudit crawl` over a list of projects: resumed, not restarted, when it is run again."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    options = models.JSONField(
        default=dict, help_text="refresh, shallow, concurrency, max_distributions, item_seconds, projects_sha256"
    )
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"crawl {self.pk} ({self.status})"


class CrawlItem(models.Model):
    """One project of a crawl: resolved, then audited as a public audit of `project` (or skipped, with the cause)."""

    class Status(models.TextChoices):
        PENDING = "pending"  # not handed out yet
        QUEUED = "queued"  # handed to a worker, which resolves it and submits its audit
        RUNNING = "running"  # its audit is under way
        DONE = "done"
        SKIPPED = "skipped"

    crawl = models.ForeignKey(Crawl, on_delete=models.CASCADE, related_name="items")
    rank = models.PositiveIntegerField(help_text="Position in the crawl's list (1 first).")
    project = models.CharField(max_length=200, help_text="Canonical (PEP 503) project name.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    version = models.CharField(max_length=100, blank=True)
    audit = models.ForeignKey(Audit, null=True, blank=True, on_delete=models.SET_NULL, related_name="crawl_items")
    outcome = models.CharField(
        max_length=32, blank=True, help_text="probed, known, or why it was skipped (too-large, unresolvable, ...)."
    )
    reason = models.TextField(blank=True, help_text="The details of a skip.")
    dispatched = models.DateTimeField(null=True, blank=True, help_text="When a worker was given it (its budget).")
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crawl", "project"], name="crawl_item_unique_project")]
        indexes = [models.Index(fields=["crawl", "status", "rank"], name="crawl_item_status_rank")]
        ordering = ["crawl", "rank"]

    def __str__(self) -> str:
        return f"{self.project} ({self.status})"


class DatasetLoad(models.Model):
    """A dataset file loaded into this database at start-up (the seed), so that it is loaded once."""

    name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, unique=True)
    imported = models.PositiveIntegerField(default=0)
    loaded = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name
