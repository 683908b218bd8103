"""What the subcommands share: exit codes, errors, argument types, and the embedded database."""

from __future__ import annotations

import argparse
import os

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad usage or bad input: exit 2."""


class Incomplete(Exception):
    """The audit could not be completed: exit 3."""


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be between 1 and 256: {text!r}")
    return value


def external_requirements_allowed() -> bool:
    """The operator's explicit allow of requirements that reach outside (FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS), read
    as the project's settings read it, but without Django's settings: `check` runs where there is no Django set-up."""
    from django.core.exceptions import ImproperlyConfigured

    from auditor.core.inputs import ALLOW_OUTSIDE_VARIABLE
    from auditor.project.env import env_bool

    try:
        return env_bool(ALLOW_OUTSIDE_VARIABLE, False)
    except ImproperlyConfigured as exc:
        raise UsageError(str(exc)) from exc


def setup_django() -> None:
    """Configure Django for the embedded database, creating its tables on first use."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditor.project.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
