from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.core.environments import (
    AuditEnvironment,
    create_environment,
    file_owners,
    install,
    installed_distributions,
)
from auditor.core.findings import ProbeResult
from auditor.core.probe import ProbeOptions, probe_distribution
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.runner import Cores
from auditor.core.probe.sandbox import sandbox_for
from tests.core.probe.packages import PACKAGES
from tests.wheelfactory import build_wheel

AUDIT_PYTHON = "/usr/bin/python3.11"


@dataclass
class ProbeBench:
    env: AuditEnvironment

    def probe(self, name: str, *, sandbox: str = "bwrap", cores: Cores | None = None, **options) -> ProbeResult:
        dists = installed_distributions(self.env)
        attributor = Attributor(file_owners(self.env, dists), self.env.site_packages)
        dist = next(d for d in dists if d.name == name)
        options.setdefault("timeout", 10)
        return probe_distribution(
            dist,
            env=self.env,
            attributor=attributor,
            sandbox=sandbox_for(sandbox),
            options=ProbeOptions(**options),
            cores=cores,
        )


def make_bench(directory: Path, packages: dict[str, dict]) -> ProbeBench:
    wheels = directory / "wheels"
    wheels.mkdir(parents=True)
    for name, spec in packages.items():
        build_wheel(wheels, name, spec["files"], requires=spec.get("requires", ()))
    env = create_environment(directory / "env", python=AUDIT_PYTHON)
    install(env, wheels=sorted(wheels.glob("*.whl")), find_links=[wheels], use_index=False)
    return ProbeBench(env)


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory) -> ProbeBench:
    """One environment with every package of tests/core/probe/packages.py installed."""
    return make_bench(tmp_path_factory.mktemp("probe"), PACKAGES)


@pytest.fixture
def bench_with(tmp_path: Path) -> Callable[[dict[str, dict]], ProbeBench]:
    """An environment of packages made for one test (they embed a port or a path of the test's)."""
    return lambda packages: make_bench(tmp_path, packages)
