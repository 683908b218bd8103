"""The `forkaudit` command (docs/architecture.md).

Exit codes, as pip-audit's but with "found something" and "crashed" kept apart: 0 nothing at or above --fail-on;
1 findings at or above it (with --strict, also any error); 2 bad usage or bad input; 3 the audit could not be
completed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.cli import audit, check, crawl, dataset, probe, serve, token
from auditor.cli.common import DEFAULT_INPUTS, EXIT_BAD_INPUT, EXIT_INCOMPLETE, Incomplete, UsageError, version

# The commands that run the engine or the service's database: they need the `server` extra, which the CI client's
# light installation (`pip install forkaudit`, for `check`) leaves out.
SERVER_COMMANDS = ("audit", "serve", "token", "export", "import", "crawl")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well; keep its message short
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"forkaudit: error: {message}\n")


class _Version(argparse.Action):
    """--version, read from the installed distribution only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"forkaudit {version()}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forkaudit", description="Find the dependencies that make a Python app fork-unsafe.")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit.add_parser(commands)
    probe.add_parser(commands)
    check.add_parser(commands)
    serve.add_parser(commands)
    token.add_parser(commands)
    dataset.add_parsers(commands)
    crawl.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(_unrecognized(args, unknown))
    if args.command in SERVER_COMMANDS and importlib.util.find_spec("django") is None:
        print(
            f"forkaudit: error: `forkaudit {args.command}` needs the server's dependencies, which this installation "
            "leaves out (it has what `forkaudit check` needs): pip install 'forkaudit[server]'",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    _default_requirements(args)
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


def _unrecognized(args: argparse.Namespace, unknown: Sequence[str]) -> str:
    """argparse's message, with the fix when a file was named without -r (`forkaudit audit requirements.txt`)."""
    message = f"unrecognized arguments: {' '.join(unknown)}"
    files = [a for a in unknown if not a.startswith("-")]
    if hasattr(args, "requirements") and files:
        message += f"; files are given with -r: forkaudit {args.command} {' '.join(f'-r {f}' for f in files)}"
    return message


def _default_requirements(args: argparse.Namespace) -> None:
    """`audit` and `check` without -r (nor --wheels) read ./requirements.txt, else the first lock file found."""
    if getattr(args, "requirements", None) != [] or getattr(args, "wheels", None):
        return
    for name in DEFAULT_INPUTS:
        if Path(name).is_file():
            args.requirements = [name]
            print(f"forkaudit: no -r given: reading ./{name}", file=sys.stderr)
            return


def _where(exc: BaseException) -> str:
    """Where `exc` was raised, for a bug report: the innermost frame, and how to see them all."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "FORKAUDIT_DEBUG=1 shows the traceback"
    frame = frames[-1]
    return f"at {frame.filename}:{frame.lineno} in {frame.name}; FORKAUDIT_DEBUG=1 shows the whole traceback"
