"""Django's management commands (migrate, createsuperuser, check, ...): `python -m auditor.project.manage COMMAND`,
or manage.py in a checkout. The settings are loaded first, so that a bad one is a message, not a traceback."""

from __future__ import annotations

import sys

from auditor.project.startup import load_settings_or_exit


def main() -> None:
    load_settings_or_exit("forkaudit")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
