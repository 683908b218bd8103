"""Resolver failures said as a person would (auditor.core.resolve.explain), from uv's own answers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from auditor.core.resolve import ResolutionError, explain, resolve
from tests.wheelfactory import build_wheel

CONFLICT = """error: No solution found when resolving dependencies
  cause: Because requests==2.32.3 depends on urllib3>=1.21.1,<3 and you require requests==2.32.3, we can conclude \
that you require urllib3>=1.21.1,<3.
         And because you require urllib3<1, we can conclude that your requirements are unsatisfiable."""


@pytest.mark.parametrize(
    ("uv_said", "readable"),
    [
        (
            "error: No solution found when resolving dependencies\n  cause: Because nosuchpackage was not found in the "
            "package registry and you require nosuchpackage, we can conclude that your requirements are unsatisfiable.",
            "nosuchpackage is not on the package index",
        ),
        (
            "error: No solution found when resolving dependencies\n  cause: Because there is no version of "
            "numpy==0.0.1 and you require numpy==0.0.1, we can conclude that your requirements are unsatisfiable.",
            "numpy==0.0.1 is not on the package index (no such version)",
        ),
        (
            "error: Request failed after 3 retries in 9.6s\n  cause: Failed to fetch: "
            "https://ci:s3cret@pypi.example.com/simple/requests/\n  cause: Connection refused (os error 111)",
            "the package index cannot be reached (https://pypi.example.com/simple/requests)",
        ),
        (
            "  cause: Because fysom==2.1.6 has no usable wheels and you require fysom==2.1.6, we can conclude that "
            "your requirements are unsatisfiable.\n\nhint: Wheels are required for `fysom` because building from "
            "source is disabled\nfysom: the build failed: no setup.py",
            "fysom==2.1.6 has no usable wheel for this Python and platform; fysom: the build failed: no setup.py",
        ),
        (
            CONFLICT,
            "Because requests==2.32.3 depends on urllib3>=1.21.1,<3 and you require requests==2.32.3, we can conclude "
            "that you require urllib3>=1.21.1,<3. And because you require urllib3<1, we can conclude that your "
            "requirements are unsatisfiable.",
        ),
    ],
)
def test_uvs_answer_is_said_plainly(uv_said, readable):
    assert explain(uv_said) == readable
    assert ResolutionError(uv_said).readable == readable
    assert str(ResolutionError(uv_said)) == uv_said  # uv's own text stays for the pipeline, which reads it


def test_a_real_resolution_of_a_missing_package_names_it(tmp_path: Path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-needy", {"fa_needy/__init__.py": ""}, requires=["fa-missing"])
    with pytest.raises(ResolutionError) as caught:
        resolve(["fa-needy"], python=Path(sys.executable), find_links=[wheels], use_index=False, workdir=tmp_path)

    assert caught.value.readable == "fa-missing is not on the given wheels and links"
