"""auditor/names.py: the kept names follow the rows they come from (added, replaced, deleted, committed late, ids
used again)."""

from __future__ import annotations

import itertools
from typing import Any

from auditor.names import NameCatalogue, NameIndex, Rows, Version, closest

_tokens = itertools.count(1)


class Table:
    """Rows of (id, name, stored, public) and the version the database's triggers keep, as the catalogue reads them."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, int, bool]] = {}
        self.version: Version = (next(_tokens), next(_tokens))
        self.reads: list[int | None] = []
        self.clock = 0

    def add(self, row_id: int, name: str, *, public: bool = True, stored: int | None = None) -> None:
        self.clock += 1
        self.rows[row_id] = (name, self.clock if stored is None else stored, public)
        self.version = (next(_tokens), self.version[1] if self.version else next(_tokens))

    def remove(self, row_id: int) -> None:
        del self.rows[row_id]
        self.version = (next(_tokens), next(_tokens))

    def current_version(self) -> Version:
        return self.version

    def read(self, after: int | None) -> Rows:
        self.reads.append(after)
        newer = {row_id: row for row_id, row in self.rows.items() if after is None or row_id > after}
        kept = [stored for row_id, (_, stored, _) in self.rows.items() if after is not None and row_id <= after]
        names: dict[str, int] = {}
        for name, _, public in newer.values():
            if public:
                names[name] = names.get(name, 0) + 1
        return Rows(
            version=self.version,
            names=list(names.items()),
            added=len(newer),
            last=max(self.rows, default=None),
            newest=max((stored for _, stored, _ in self.rows.values()), default=None),
            kept=len(kept),
            newest_kept=max(kept, default=None),
        )


def catalogue_of(table: Table, **options: Any) -> NameCatalogue:
    return NameCatalogue(version=table.current_version, read=table.read, **options)


def test_rows_added_since_are_the_only_ones_read_again() -> None:
    table = Table()
    catalogue = catalogue_of(table)
    table.add(1, "numpy")
    table.add(2, "numpy")
    assert catalogue.get().names == ["numpy"]

    table.add(3, "pandas")
    table.add(4, "private-app", public=False)
    index = catalogue.get()

    assert index.names == ["numpy", "pandas"]
    assert index.rows == {"numpy": 2, "pandas": 1}
    assert index.total == 3
    assert table.reads == [None, 2]


def test_unchanged_rows_are_not_read_again() -> None:
    table = Table()
    catalogue = catalogue_of(table)
    table.add(1, "numpy")
    catalogue.get()
    catalogue.get()

    assert table.reads == [None]


def test_a_deleted_row_makes_it_read_everything() -> None:
    table = Table()
    catalogue = catalogue_of(table)
    table.add(1, "numpy")
    table.add(2, "gone")
    catalogue.get()
    table.remove(2)
    table.add(3, "pandas")

    assert catalogue.get().names == ["numpy", "pandas"]
    assert table.reads == [None, None]


def test_a_row_committed_after_a_row_with_a_greater_id_is_not_missed() -> None:
    table = Table()
    catalogue = catalogue_of(table)
    table.add(1, "numpy")
    table.add(3, "pandas")  # committed first; the transaction that took id 2 (and its time) is still running
    catalogue.get()
    table.add(2, "requests", stored=2)
    table.add(4, "six")

    assert catalogue.get().rows == {"numpy": 1, "pandas": 1, "requests": 1, "six": 1}
    assert table.reads == [None, 3, None]  # the rows up to 3 are one more than were read: everything again


def test_an_id_used_again_after_a_rollback_is_not_taken_for_the_old_row() -> None:
    table = Table()
    catalogue = catalogue_of(table)
    before = table.version
    table.add(1, "numpy")
    catalogue.get()
    table.rows.clear()  # rolled back, the version's change with it; SQLite gives the next row the same id
    table.version = before
    table.add(1, "requests")

    assert catalogue.get().names == ["requests"]


def test_the_names_are_checked_once_they_are_older_than_their_age_even_if_the_version_is_the_same() -> None:
    table = Table()
    catalogue = catalogue_of(table, max_age=-1)
    table.add(1, "numpy")
    catalogue.get()
    table.rows[2] = ("pandas", 99, True)  # a write the version did not see

    assert catalogue.get().names == ["numpy", "pandas"]
    assert table.reads == [None, 1]


def test_a_version_that_was_read_before_newer_rows_were_does_not_read_them_again() -> None:
    table = Table()
    versions = [table.version]
    catalogue = NameCatalogue(version=lambda: versions[0], read=table.read)
    table.add(1, "numpy")  # committed between a request's look at the version and its read
    catalogue.get()
    catalogue.get()  # the same request, the same version it read first

    assert table.reads == [None]


def test_without_a_version_row_the_names_are_read_again_once_one_is_made() -> None:
    table = Table()
    table.version = None  # `manage.py flush` deleted it
    catalogue = catalogue_of(table)
    table.rows[1] = ("numpy", 1, True)
    assert catalogue.get().names == ["numpy"]
    table.add(2, "pandas")  # the trigger makes the row again

    assert catalogue.get().names == ["numpy", "pandas"]
    assert table.reads == [None, None]


def test_suggestions_find_a_typo_among_many_similar_names() -> None:
    names = [f"django-cloud-{index:05d}" for index in range(5000)] + ["numpy", "numba", "pandas"]
    index = NameIndex(names)

    assert closest("nunpy", index.candidates("nunpy"), 3) == ["numpy"]
    assert closest("djagno-cloud-00413", index.candidates("djagno-cloud-00413"), 1) == ["django-cloud-00413"]
    assert closest("zzzzzz", index.candidates("zzzzzz"), 3) == []
