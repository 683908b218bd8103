"""The names of the public packages, kept in each process: substring search and the nearest names to a typo.

A search for part of a name (`LIKE '%fast%'`) reads every stored result: with 100,000 of them it costs more than the
whole page should. The names are far fewer than the results (one per package, not per version, Python and platform)
and change only when a result is stored or removed, so each process keeps them with the results' version (a row the
database changes with every write to the results, auditor/models.py) that says when to read them again: only the
results added since, when results were only added, else all of them. Typo suggestions rank names by the trigrams they
share with the query, then by difflib's ratio, which alone would compare the query with every name. Plain Python:
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import bisect
import difflib
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

CANDIDATES = 50  # names sharing the most trigrams with the query that difflib compares
CUTOFF = 0.6  # difflib's default: below it a name is no longer "close"
MAX_AGE = 60.0  # seconds after which the kept names are checked against the rows even if the version is the same


def trigrams(name: str) -> set[str]:
    padded = f"  {name} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class NameIndex:
    """Names, sorted, with how many rows each has, and trigram postings made on the first suggestion asked of it."""

    def __init__(self, rows: Iterable[tuple[str, int]] | Iterable[str]) -> None:
        self.rows: Counter[str] = Counter()
        for item in rows:
            name, count = (item, 1) if isinstance(item, str) else item
            self.rows[name] += count
        self.names = sorted(self.rows)
        self.total = sum(self.rows.values())
        self._postings: dict[str, list[int]] | None = None
        self._lock = threading.Lock()

    def containing(self, needle: str) -> list[str]:
        return [name for name in self.names if needle in name]

    def with_rows(self, rows: Iterable[tuple[str, int]]) -> NameIndex:
        """A new index of these names and `rows` (this one is left as it is: other threads may be reading it)."""
        index = NameIndex(())
        index.rows = self.rows.copy()
        index.names = list(self.names)
        for name, count in rows:
            if name not in index.rows:
                bisect.insort(index.names, name)
            index.rows[name] += count
            index.total += count
        index.total += self.total
        return index

    def candidates(self, query: str) -> list[str]:
        """The names that share the most trigrams with `query`: the only ones worth comparing with it."""
        shared: Counter[int] = Counter()
        postings = self._trigram_postings()
        for trigram in trigrams(query):
            shared.update(postings.get(trigram, ()))
        return [self.names[index] for index, _ in shared.most_common(CANDIDATES)]

    def _trigram_postings(self) -> dict[str, list[int]]:
        with self._lock:
            if self._postings is None:
                postings: dict[str, list[int]] = {}
                for index, name in enumerate(self.names):
                    for trigram in trigrams(name):
                        postings.setdefault(trigram, []).append(index)
                self._postings = postings
            return self._postings


def closest(query: str, names: Iterable[str], n: int) -> list[str]:
    """Up to `n` of `names` close to `query` (difflib's ratio at least CUTOFF), closest first."""
    return difflib.get_close_matches(query, list(dict.fromkeys(names)), n=n, cutoff=CUTOFF)


# The rows' version: (a value that changes whenever a row is added, replaced or removed, one that changes whenever a
# row is removed), or None when the database has none.
Version = tuple[Hashable, Hashable] | None


@dataclass(frozen=True)
class Rows:
    """One read of the rows the names come from, all of it from one snapshot of the database (one statement)."""

    version: Version
    names: list[tuple[str, int]]  # (name, how many public rows) of the rows with an id above `after`
    added: int  # rows of every origin with an id above `after`
    last: int | None  # the greatest id (None: no rows)
    newest: Any  # the newest time a row was stored
    kept: int  # rows of every origin with an id up to `after` (0 without `after`)
    newest_kept: Any  # the newest time one of those was stored (None without `after`)


@dataclass(frozen=True)
class _Seen:
    version: Version
    last: int | None
    count: int  # rows of every origin with an id up to `last`
    newest: Any


class NameCatalogue:
    """A NameIndex of the database's names, read again when the rows' version changes (and checked every MAX_AGE
    seconds in any case).

    `version()` is the rows' version (cheap: read once per request); `read(after)` the `Rows` after the id `after`
    (None: every row). When no row was removed since the names were read and the rows up to the last id read are
    still there unchanged (as many, the same newest time), only the rows added since are read: ids are not
    committed in their order (a transaction that took id 100 may commit after the one that took 101), so the count
    of the rows up to the last id read is what tells that none came late; the newest time, that an id used again
    after a rollback is not the old row.
    """

    def __init__(
        self,
        *,
        version: Callable[[], Version],
        read: Callable[[int | None], Rows],
        max_age: float = MAX_AGE,
    ) -> None:
        self._version = version
        self._read = read
        self._max_age = max_age
        self._lock = threading.Lock()
        self._index = NameIndex(())
        self._seen: _Seen | None = None
        self._asked: Version = None  # the version that made the last read: the rows read are at least as new
        self._checked = 0.0

    def get(self) -> NameIndex:
        now = self._version()
        with self._lock:
            seen = self._seen
            if seen is not None and now in (seen.version, self._asked) and self._age() <= self._max_age:
                return self._index
            if seen is not None and seen.last is not None and _no_removals(seen.version, now):
                rows = self._read(seen.last)
                unchanged = (rows.kept, rows.newest_kept) == (seen.count, seen.newest)
                if _no_removals(seen.version, rows.version) and unchanged:
                    self._keep(now, rows, self._index.with_rows(rows.names), count=seen.count + rows.added)
                    return self._index
            rows = self._read(None)
            self._keep(now, rows, NameIndex(rows.names), count=rows.added)
            return self._index

    def _keep(self, asked: Version, rows: Rows, index: NameIndex, *, count: int) -> None:
        self._index = index
        self._seen = _Seen(version=rows.version, last=rows.last, count=count, newest=rows.newest)
        self._asked = asked
        self._checked = time.monotonic()

    def _age(self) -> float:
        return time.monotonic() - self._checked

    def clear(self) -> None:
        with self._lock:
            self._index = NameIndex(())
            self._seen = None
            self._asked = None


def _no_removals(before: Version, after: Version) -> bool:
    """Whether no row was removed between two versions (False when either is unknown)."""
    return before is not None and after is not None and before[1] == after[1]
