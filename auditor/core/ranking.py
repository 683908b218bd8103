"""The lists of projects a crawl works through: the ranking that ships with forkaudit, or a file of names."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.utils import canonicalize_name

_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)  # PEP 508


class ProjectListError(ValueError):
    """A list of projects that cannot be crawled; the message names the line."""


def read_project_list(text: str, *, source: str) -> list[str]:
    """Canonical project names, in order and without repeats, from one name a line (`#` comments, blank lines) or the
    shipped ranking's `rank<TAB>name` lines (its header too). ProjectListError names a bad line."""
    projects: dict[str, None] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if fields == ["rank", "name"]:
            continue
        if len(fields) == 2 and fields[0].isdigit():
            fields = fields[1:]
        if not fields:
            continue
        if len(fields) > 1 or not _PROJECT_NAME.match(fields[0]):
            raise ProjectListError(f"{source}:{number}: not a project name: {raw.strip()!r}")
        projects.setdefault(canonicalize_name(fields[0]), None)
    if not projects:
        raise ProjectListError(f"{source}: no project names")
    return list(projects)


def top_projects(count: int) -> list[str]:
    """The `count` most downloaded projects, from the ranking that ships with forkaudit."""
    return read_project_list(ranking_path().read_text(encoding="utf-8"), source=ranking_path().name)[:count]


def ranking_path() -> Path:
    return Path(__file__).parents[1] / "data" / "top-pypi-packages.tsv"
