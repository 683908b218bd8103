"""Which distributions' bytecode is worth compiling before the probes: those that two probes or more import, when
there is much of it."""

from __future__ import annotations

from pathlib import Path

from auditor.core.bytecode import MIN_SHARED_SOURCE_BYTES, shared_distributions, worth_compiling
from auditor.core.environments import AuditEnvironment, InstalledDistribution
from auditor.core.resolve import Resolution

# pandas → numpy, python-dateutil → six; requests → urllib3, idna
EDGES = {("pandas", "numpy"), ("pandas", "python-dateutil"), ("python-dateutil", "six"), ("requests", "urllib3")}
EDGES |= {("requests", "idna")}


def graph(edges: set[tuple[str, str]]) -> Resolution:
    names = {name for edge in edges for name in edge}
    return Resolution(pins=dict.fromkeys(names, "1.0"), edges=frozenset(edges), direct=frozenset())


def test_a_distribution_probed_and_required_by_another_probed_one_is_shared():
    assert shared_distributions(graph(EDGES), {"pandas", "numpy"}) == {"numpy"}


def test_what_a_probe_pulls_in_through_others_counts_for_it_too():
    assert shared_distributions(graph(EDGES), {"pandas", "python-dateutil", "six"}) == {"python-dateutil", "six"}


def test_a_distribution_imported_by_its_own_probe_alone_is_not_shared():
    assert shared_distributions(graph(EDGES), {"pandas", "requests"}) == set()
    assert shared_distributions(graph(EDGES), {"idna"}) == set()


def test_two_probed_requirers_share_what_neither_probe_of_its_own_imports():
    edges = {("a", "lib"), ("b", "lib")}
    assert shared_distributions(graph(edges), {"a", "b"}) == {"lib"}


def environment_with(tmp_path: Path, files: dict[str, int]) -> tuple[AuditEnvironment, InstalledDistribution]:
    """An environment whose one distribution has `files` (relative path: size in bytes)."""
    site_packages = tmp_path / "site-packages"
    for relative, size in files.items():
        (site_packages / relative).parent.mkdir(parents=True, exist_ok=True)
        (site_packages / relative).write_text("#" * size)
    env = AuditEnvironment(tmp_path, tmp_path / "python", site_packages, tmp_path, "3.11.7", "linux", tmp_path)
    return env, InstalledDistribution("lib", "lib", "1.0", "py3-none-any", tuple(files))


def test_compiling_is_worth_it_only_for_much_shared_source_tests_left_out(tmp_path: Path):
    half = MIN_SHARED_SOURCE_BYTES // 2
    small, dist = environment_with(tmp_path / "small", {"lib/__init__.py": half, "lib/tests/test_a.py": half})
    assert not worth_compiling(small, [dist])
    large, dist = environment_with(tmp_path / "large", {"lib/__init__.py": half, "lib/core.py": half})
    assert worth_compiling(large, [dist])
    assert not worth_compiling(large, [])
