"""The names of the public packages, kept in each process: substring search and the nearest names to a typo.

A search for part of a name (`LIKE '%fast%'`) reads every stored result: with 100,000 of them it costs more than the
whole page should. The names are far fewer than the results (one per package, not per version, Python and platform)
and change only when a new result is stored, so each process keeps them, with the database's fingerprint (how many
results, the last id, the newest time stored) that says when to read them again: only the results added since, when
results were only added, else all of them. Typo suggestions rank names by the trigrams they share with the query,
then by difflib's ratio, which alone would compare the query with every name. Plain Python: the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import difflib
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

CANDIDATES = 50  # names sharing the most trigrams with the query that difflib compares
CUTOFF = 0.6  # difflib's default: below it a name is no longer "close"


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
        self._postings: dict[str, list[int]] | None = None
        self._lock = threading.Lock()

    def containing(self, needle: str) -> list[str]:
        return [name for name in self.names if needle in name]

    def with_rows(self, rows: Iterable[tuple[str, int]]) -> NameIndex:
        return NameIndex([*self.rows.items(), *rows])

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


class NameCatalogue:
    """A NameIndex of the database's names, read again when the fingerprint of its rows changes.

    `fingerprint(upto)` returns (count, last id, newest time stored) of the rows whose id is at most `upto`
    (None: of every row); `load(after)` (name, rows) of the rows whose id is greater than `after` (None: of every
    row). When the rows seen before are still there unchanged (their fingerprint is the same), only the rows added
    since are read.
    """

    def __init__(
        self,
        *,
        fingerprint: Callable[[int | None], tuple[int, int | None, Any]],
        load: Callable[[int | None], Iterable[tuple[str, int]]],
    ) -> None:
        self._fingerprint = fingerprint
        self._load = load
        self._lock = threading.Lock()
        self._index = NameIndex(())
        self._seen: tuple[int, int | None, Any] | None = None

    def get(self) -> NameIndex:
        with self._lock:
            now = self._fingerprint(None)
            if now == self._seen:
                return self._index
            last = self._seen[1] if self._seen is not None else None
            if last is not None and self._fingerprint(last) == self._seen:
                self._index = self._index.with_rows(self._load(last))
            else:
                self._index = NameIndex(self._load(None))
            self._seen = now
            return self._index

    def clear(self) -> None:
        with self._lock:
            self._index = NameIndex(())
            self._seen = None
