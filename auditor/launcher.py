"""The `forkaudit` console script's entry point.

The script that pip writes imports this module at its top, and a process pool started by spawn (the static scanner's)
runs that script again in every worker it starts. So this module imports nothing: the CLI (0.2 s of imports that a
worker never uses) is imported when `main` runs, which only the real command does.
"""

from __future__ import annotations


def main() -> int:
    from auditor.cli import main as cli_main

    return cli_main()
