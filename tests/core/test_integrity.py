"""Whose modules a distribution's packages hold: what makes its result depend on other distributions."""

from __future__ import annotations

from auditor.core.environments import InstalledDistribution
from auditor.core.integrity import carried_origins
from auditor.core.resolve import Resolution


def dist(name: str, *files: str) -> InstalledDistribution:
    return InstalledDistribution(name, name, "1.0", "py3-none-any", files)


def resolution(*edges: tuple[str, str], names: tuple[str, ...]) -> Resolution:
    return Resolution(pins=dict.fromkeys(names, "1.0"), edges=frozenset(edges), direct=frozenset())


def test_a_module_in_a_subpackage_of_another_distribution_makes_it_carried():
    victim = dist("victim", "victim/__init__.py", "victim/sub/__init__.py", "victim/sub/core.py")
    carrier = dist("carrier", "carrier/__init__.py", "victim/sub/_extra.py")
    graph = resolution(names=("victim", "carrier"))

    assert carried_origins([victim, carrier], graph) == {"victim": "carried:carrier==1.0"}


def test_a_dependency_a_shared_namespace_and_a_pep_420_namespace_carry_nothing():
    host = dist("host", "host/__init__.py")
    plugin = dist("plugin", "plugin/__init__.py", "host/_plugin.py")  # host requires it (PyQt5 and PyQt5-sip)
    one = dist("ns-one", "ns/__init__.py", "ns/one.py")  # pkgutil-style: both declare ns/__init__.py
    two = dist("ns-two", "ns/__init__.py", "ns/two.py")
    three = dist("implicit-three", "implicit/three/__init__.py")  # implicit/ has no __init__.py
    four = dist("implicit-four", "implicit/four.py")
    graph = resolution(
        ("host", "plugin"), names=("host", "plugin", "ns-one", "ns-two", "implicit-three", "implicit-four")
    )

    assert carried_origins([host, plugin, one, two, three, four], graph) == {}


def test_many_carriers_are_named_by_a_digest_that_fits_the_origins_column():
    victim = dist("victim", "victim/__init__.py")
    carriers = [dist(f"carrier-with-a-long-name-{n}", f"victim/m{n}.py") for n in range(10)]
    graph = resolution(names=("victim", *(c.name for c in carriers)))

    [(name, origin)] = carried_origins([victim, *carriers], graph).items()
    assert name == "victim" and origin.startswith("carried:") and len(origin) <= 200
