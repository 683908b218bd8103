"""Validation of untrusted input (DESIGN.md §3): requirements files and wheels, before anything touches them.

Nothing here reads the server's filesystem for the input: `-r`/`-c` includes resolve only inside the mapping
of uploaded files, and options that reach outside the configured package index are refused unless the operator
allows them. Every refusal is an `InputError` whose text names the file and line, fit to show to an end user.
"""

from __future__ import annotations

from auditor.core.inputs.errors import InputError
from auditor.core.inputs.requirements import (
    Requirements,
    included_files,
    parse_requirements,
    parse_requirements_text,
)
from auditor.core.inputs.wheels import WheelInfo, validate_wheel, validate_wheel_set

__all__ = [
    "InputError",
    "Requirements",
    "WheelInfo",
    "included_files",
    "parse_requirements",
    "parse_requirements_text",
    "validate_wheel",
    "validate_wheel_set",
]
