"""Validation of untrusted input (docs/data-flow.md): requirements files and wheels, before anything touches them.

Nothing here reads the server's filesystem for the input: `-r`/`-c` includes resolve only inside the mapping
of uploaded files, and options that reach outside the configured package index are refused unless the operator
allows them. The CLI reads its files with `read_requirement_files`, which keeps includes under the top-level file's
directory. Every refusal is an `InputError` whose text names the file and line, fit to show to an end user.
"""

from __future__ import annotations

from auditor.core.inputs.errors import InputError
from auditor.core.inputs.local import ALLOW_OUTSIDE_VARIABLE, read_requirement_files
from auditor.core.inputs.requirements import (
    MAX_REQUIREMENT_FILES,
    MAX_REQUIREMENTS_FILE_BYTES,
    Include,
    RequirementOrigin,
    Requirements,
    included_files,
    includes,
    parse_requirements,
    parse_requirements_text,
)
from auditor.core.inputs.wheels import WheelInfo, validate_wheel, validate_wheel_set

__all__ = [
    "ALLOW_OUTSIDE_VARIABLE",
    "MAX_REQUIREMENTS_FILE_BYTES",
    "MAX_REQUIREMENT_FILES",
    "Include",
    "InputError",
    "RequirementOrigin",
    "Requirements",
    "WheelInfo",
    "included_files",
    "includes",
    "parse_requirements",
    "parse_requirements_text",
    "read_requirement_files",
    "validate_wheel",
    "validate_wheel_set",
]
