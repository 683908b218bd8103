"""How popular a PyPI project is: its rank among the most downloaded, from the ranking that ships with forkaudit.

The file is `rank<TAB>name` lines under a `rank<TAB>name` header (rank 1 is the most downloaded). Browsing pages order
packages by it; a package it does not list, or every package when the file is missing, sorts after the ranked ones,
by name.
"""

from __future__ import annotations

import functools
from pathlib import Path

from packaging.utils import canonicalize_name

RANKING_FILE = Path(__file__).resolve().parent / "data" / "top-pypi-packages.tsv"


def popularity_ranks() -> dict[str, int]:
    """{canonical name: rank} from the ranking that ships with forkaudit; {} when it is missing."""
    return read_ranks(RANKING_FILE)


@functools.lru_cache(maxsize=4)
def read_ranks(path: Path) -> dict[str, int]:
    """{canonical name: rank} from a ranking file; {} when there is no such file. Lines that are not a rank and a
    name are ignored (the header among them)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    ranks: dict[str, int] = {}
    for line in text.splitlines():
        rank, _, name = line.partition("\t")
        if rank.strip().isdigit() and name.strip():
            ranks.setdefault(canonicalize_name(name.strip()), int(rank))
    return ranks


def popularity_order(name: str, ranks: dict[str, int]) -> tuple[int, int, str]:
    """A sort key: ranked names first, by rank, then the others by name."""
    rank = ranks.get(name)
    return (0, rank, name) if rank is not None else (1, 0, name)
