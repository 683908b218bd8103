"""auditor/names.py: the kept names follow the rows they come from (added, replaced, deleted, ids used again)."""

from __future__ import annotations

from typing import Any

from auditor.names import NameCatalogue, NameIndex, closest


class Table:
    """Rows of (id, name, stored), as the catalogue's two callables read them."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, int]] = {}
        self.loads: list[int | None] = []
        self.clock = 0

    def add(self, row_id: int, name: str) -> None:
        self.clock += 1
        self.rows[row_id] = (name, self.clock)

    def fingerprint(self, upto: int | None) -> tuple[int, int | None, Any]:
        ids = [row_id for row_id in self.rows if upto is None or row_id <= upto]
        last = max(ids, default=None)
        return (len(ids), last, self.rows[last][1] if last is not None else None)

    def load(self, after: int | None) -> list[tuple[str, int]]:
        self.loads.append(after)
        return [(name, 1) for row_id, (name, _) in self.rows.items() if after is None or row_id > after]


def test_rows_added_since_are_the_only_ones_read_again() -> None:
    table = Table()
    catalogue = NameCatalogue(fingerprint=table.fingerprint, load=table.load)
    table.add(1, "numpy")
    table.add(2, "numpy")
    assert catalogue.get().names == ["numpy"]

    table.add(3, "pandas")
    index = catalogue.get()

    assert index.names == ["numpy", "pandas"]
    assert index.rows == {"numpy": 2, "pandas": 1}
    assert table.loads == [None, 2]


def test_unchanged_rows_are_not_read_again() -> None:
    table = Table()
    catalogue = NameCatalogue(fingerprint=table.fingerprint, load=table.load)
    table.add(1, "numpy")
    catalogue.get()
    catalogue.get()

    assert table.loads == [None]


def test_a_deleted_row_makes_it_read_everything() -> None:
    table = Table()
    catalogue = NameCatalogue(fingerprint=table.fingerprint, load=table.load)
    table.add(1, "numpy")
    table.add(2, "gone")
    catalogue.get()
    del table.rows[2]
    table.add(3, "pandas")

    assert catalogue.get().names == ["numpy", "pandas"]
    assert table.loads == [None, None]


def test_an_id_used_again_after_a_rollback_is_not_taken_for_the_old_row() -> None:
    table = Table()
    catalogue = NameCatalogue(fingerprint=table.fingerprint, load=table.load)
    table.add(1, "numpy")
    catalogue.get()
    table.rows.clear()  # rolled back; SQLite gives the next row the same id
    table.add(1, "requests")

    assert catalogue.get().names == ["requests"]


def test_suggestions_find_a_typo_among_many_similar_names() -> None:
    names = [f"django-cloud-{index:05d}" for index in range(5000)] + ["numpy", "numba", "pandas"]
    index = NameIndex(names)

    assert closest("nunpy", index.candidates("nunpy"), 3) == ["numpy"]
    assert closest("djagno-cloud-00413", index.candidates("djagno-cloud-00413"), 1) == ["django-cloud-00413"]
    assert closest("zzzzzz", index.candidates("zzzzzz"), 3) == []
