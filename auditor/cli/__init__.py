"""The `forkaudit` command (DESIGN.md §9).

Exit codes, as pip-audit's but with "found something" and "crashed" kept apart: 0 nothing at or above --fail-on;
1 findings at or above it (with --strict, also any error); 2 bad usage or bad input; 3 the audit could not be
completed.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from auditor.cli import audit, check, dataset, probe, serve, token
from auditor.cli.common import EXIT_BAD_INPUT, EXIT_INCOMPLETE, Incomplete, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well; keep its message short
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"forkaudit: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forkaudit", description="Find the dependencies that make a Python app fork-unsafe.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit.add_parser(commands)
    probe.add_parser(commands)
    check.add_parser(commands)
    serve.add_parser(commands)
    token.add_parser(commands)
    dataset.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"forkaudit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Incomplete as exc:
        print(f"forkaudit: the audit could not be completed: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        print("forkaudit: interrupted", file=sys.stderr)
        return EXIT_INCOMPLETE
    except Exception as exc:  # never a traceback for the user, unless asked for
        if os.environ.get("FORKAUDIT_DEBUG"):
            raise
        print(f"forkaudit: internal error: {type(exc).__name__}: {exc} ({_where(exc)})", file=sys.stderr)
        return EXIT_INCOMPLETE


def _where(exc: BaseException) -> str:
    """Where `exc` was raised, for a bug report: the innermost frame, and how to see them all."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "FORKAUDIT_DEBUG=1 shows the traceback"
    frame = frames[-1]
    return f"at {frame.filename}:{frame.lineno} in {frame.name}; FORKAUDIT_DEBUG=1 shows the whole traceback"
