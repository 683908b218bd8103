"""`forkaudit export [-o FILE]` and `forkaudit import FILE`: the public results as a JSON Lines dataset
(auditor/dataset.py), gzip-compressed when the file's name ends in .gz."""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import tempfile
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from auditor.cli.common import EXIT_INCOMPLETE, EXIT_OK, UsageError, setup_django

_GZIP_MAGIC = b"\x1f\x8b"


def add_parsers(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write the public results as a dataset",
        description="Write every public result in the database (never one of an uploaded wheel, nor of what "
        "required one) as JSON Lines: a header line with the format version, then one line per probed "
        "distribution version.",
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (gzip when it ends in .gz), not stdout")
    export.set_defaults(run=run_export)
    import_ = commands.add_parser(
        "import",
        help="add the results of a dataset to the database",
        description="Add the results of a dataset made by `forkaudit export` (plain or gzip) to the database. "
        "Results it already has are kept; a bad line refuses the whole file, with nothing imported.",
    )
    import_.add_argument("file", metavar="FILE", help="the dataset (.jsonl or .jsonl.gz; - for stdin)")
    import_.set_defaults(run=run_import)


def run_export(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output not in (None, "-") else None
    if output is not None and (output.is_dir() or not output.parent.is_dir()):
        raise UsageError(f"{output}: not a file in an existing directory")
    setup_django()
    from auditor.dataset import export_dataset

    if output is None:
        try:
            count = export_dataset(sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (`| head`): its choice, not a failure to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush is quiet
            return EXIT_OK
    else:
        count = _export_to(output, export_dataset)
    print(f"forkaudit: exported {count} public results", file=sys.stderr)
    return EXIT_OK


def _export_to(output: Path, export: Any) -> int:
    """Export into a temporary file beside `output`, renamed over it when complete: a failed export leaves no
    half dataset that an import would take for a whole one."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write: {exc.strerror}") from None
    try:
        with ExitStack() as stack:
            raw = stack.enter_context(open(handle, "wb"))
            if output.name.endswith(".gz"):  # mtime 0 and no name: the same results give the same bytes
                raw = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0))
            text = stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8", newline="\n"))
            count = export(text)
        os.chmod(name, 0o644)  # mkstemp's 0600 would hide a public dataset from the other users
        os.replace(name, output)
    except BaseException as exc:
        Path(name).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # the disk filled up, say
            raise UsageError(f"{output}: cannot write: {exc.strerror or exc}; nothing was written") from None
        raise
    return count


def run_import(args: argparse.Namespace) -> int:
    setup_django()
    from django.db import DatabaseError

    from auditor.dataset import DatasetError, import_dataset

    with ExitStack() as stack:
        stream = _open_dataset(args.file, stack)
        try:
            summary = import_dataset(stream)
        except DatasetError as exc:
            raise UsageError(f"{args.file}:{exc.line}: {exc.message}; nothing was imported") from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise UsageError(f"{args.file}: a damaged gzip file ({exc}); nothing was imported") from None
        except OSError as exc:
            raise UsageError(f"{args.file}: cannot read: {exc.strerror or exc}; nothing was imported") from None
        except DatabaseError as exc:  # e.g. another process stored one of the keys meanwhile
            print(f"forkaudit: error: the database refused the import ({exc}); nothing was imported", file=sys.stderr)
            return EXIT_INCOMPLETE
    print(
        f"forkaudit: imported {summary.imported} results, kept {summary.kept} already in the database",
        file=sys.stderr,
    )
    return EXIT_OK


def _open_dataset(name: str, stack: ExitStack) -> IO[bytes]:
    """The dataset's bytes, uncompressed when they are gzip's (whatever the name says)."""
    if name == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        path = Path(name)
        if path.is_dir():
            raise UsageError(f"{name}: a directory, not a dataset")
        try:
            raw = stack.enter_context(path.open("rb"))
        except OSError as exc:
            raise UsageError(f"{name}: cannot read: {exc.strerror}") from None
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    if buffered.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)] == _GZIP_MAGIC:
        return stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb"))  # type: ignore[return-value]
    return buffered
