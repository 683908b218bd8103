"""Which distributions' bytecode is worth compiling before the probes: those that two probes or more import."""

from __future__ import annotations

from auditor.core.bytecode import shared_distributions
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
