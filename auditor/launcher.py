"""The `forkaudit` console script's entry point.

The script that pip writes imports this module at its top, and a process pool started by spawn (the static scanner's)
runs that script again in every worker it starts. So this module imports nothing: the CLI (imports that a
worker never uses: bench/README.md, finding 9) is imported when `main` runs, which only the real command does.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from auditor.cli import main as cli_main

    code = cli_main()
    _exit_now(code)
    return code  # not reached


def _exit_now(code: int) -> None:
    """Exit without tearing the interpreter down: freeing every object of Django, libcst and the rest one by one took
    much of a short audit (mypy's `hard_exit` does the same). By now every pool and helper has been shut down and
    every file written; what is left is flushed or closed here."""
    if "django.db" in sys.modules:
        from django.conf import settings

        if settings.configured:  # else no connection can have been opened
            from django.db import connections

            connections.close_all()  # a server would otherwise log a client that vanished
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it anyway
            pass
    os._exit(code)
