"""What the subcommands share: exit codes, errors, argument types, and the embedded database."""

from __future__ import annotations

import argparse
import os

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3

# What `audit` and `check` read when no -r is given: the first of these in the current directory.
DEFAULT_INPUTS = ("requirements.txt", "uv.lock", "pylock.toml", "poetry.lock", "Pipfile.lock")


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
    with the words of auditor/project/env.py's env_bool, but without Django: `check` runs where Django is not even
    installed (the CI client's light installation)."""
    from auditor.core.inputs import ALLOW_OUTSIDE_VARIABLE

    value = os.environ.get(ALLOW_OUTSIDE_VARIABLE, "").strip()
    if value.lower() in ("", "0", "false", "no", "off"):
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    raise UsageError(f"{ALLOW_OUTSIDE_VARIABLE} must be a boolean (true/false, 1/0, yes/no, on/off); got {value!r}.")


def version() -> str:
    """The installed forkaudit's version ("dev" when run from a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("forkaudit")
    except PackageNotFoundError:
        return "dev"


def setup_django(*, seed: bool = False) -> None:
    """Configure Django for the embedded database, creating its tables on first use (with `seed`, also loading the
    seed dataset into a fresh one: `serve` and `crawl`, not an audit); a bad setting is a UsageError that names it."""
    from django.core.exceptions import ImproperlyConfigured

    from auditor.project.startup import load_settings

    try:
        load_settings()
    except ImproperlyConfigured as exc:
        raise UsageError(f"configuration: {exc}") from exc
    import django
    from django.core.management import call_command

    django.setup()
    import auditor.seed

    auditor.seed.LOAD_ON_MIGRATE = seed
    call_command("migrate", verbosity=0, interactive=False)
