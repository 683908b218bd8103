"""The database behind the pipeline's ResultStore port (auditor/core/cache.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser

from auditor.core.cache import ProbeKey
from auditor.core.findings import ProbeResult
from auditor.models import ProbeRecord
from auditor.selectors import probe_record_for
from auditor.services import probe_record_store

logger = logging.getLogger(__name__)


class DatabaseResultStore:
    """A ResultStore over ProbeRecord: every audit reuses every result the database already has.

    `verdict_of` turns a result into its verdict (the domain's rule), stored beside it for search. `owner` is the
    submitter of the audit: it owns the results of its uploaded wheels, and only it gets them back from the cache.
    """

    def __init__(
        self,
        verdict_of: Callable[[ProbeResult], str],
        owner: AbstractBaseUser | None = None,
    ) -> None:
        self.verdict_of = verdict_of
        self.owner = owner

    def get(self, key: ProbeKey) -> ProbeResult | None:
        record = probe_record_for(key=key, owner_id=self.owner.pk if self.owner else None)
        if record is None:
            return None
        try:
            return ProbeResult.from_dict(record.result)
        except (KeyError, TypeError, ValueError):
            # Stored by an incompatible version of the code: treat as a miss, the new result replaces it.
            logger.warning("ignoring unreadable stored result %s %s (id %s)", record.name, record.version, record.pk)
            return None

    def put(self, key: ProbeKey, result: ProbeResult) -> ProbeRecord:
        """Store `result` under `key`; the record stored (its audit's owner may reuse it)."""
        return probe_record_store(key=key, result=result, verdict=self.verdict_of(result), owner=self.owner)
