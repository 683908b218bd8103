"""Requirements files read from this machine's disk, for the CLI (`forkaudit audit` and `forkaudit check`).

The user names the top-level files; what those files include with `-r`/`-c` is data, and may come from anyone who
can change the file (a pull request, in CI). So an include is followed only under the directory of the top-level file
that led to it, symlinks resolved, unless the operator allows more; only regular files are read (a FIFO would hang,
`/dev/zero` never ends), each up to a size limit, and only so many. A file that is refused is never opened: no message
can quote what it holds.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from auditor.core.inputs.errors import InputError, excerpt
from auditor.core.inputs.locks import MAX_LOCK_FILE_BYTES, is_lock_file
from auditor.core.inputs.requirements import (
    MAX_REQUIREMENT_FILES,
    MAX_REQUIREMENTS_FILE_BYTES,
    Include,
    includes,
)

ALLOW_OUTSIDE_VARIABLE = "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS"  # the operator's explicit allow, named in messages
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_requirement_files(paths: Sequence[str], *, allow_outside: bool = False) -> dict[str, bytes]:
    """The files named by `paths` and every file they include, by the names `parse_requirements` looks them up with.

    A file in `paths` may be anywhere. A file it includes, directly or not, must resolve (symlinks followed) under
    the top-level file's directory, unless `allow_outside`; every file must be a regular file of at most
    MAX_REQUIREMENTS_FILE_BYTES, and at most MAX_REQUIREMENT_FILES are read. Raises `InputError` naming the file, or
    the file and line of the include, for the first refusal.
    """
    roots = {_resolve(path, None): Path(path).parent.resolve() for path in paths}
    files: dict[str, bytes] = {}
    # (name, the directory it must be under, the include that named it: None for a top-level file)
    pending: list[tuple[str, Path, Include | None]] = [
        (str(Path(path)), Path(path).parent.resolve(), None) for path in reversed(paths)
    ]
    while pending:
        name, root, include = pending.pop()
        resolved = _resolve(name, include)
        if resolved in roots:  # named on the command line, so allowed wherever it is; its includes under its directory
            root = roots[resolved]
        elif include is not None and not allow_outside and not resolved.is_relative_to(root):
            raise _outside(include, root)
        if name in files:
            continue
        if len(files) >= MAX_REQUIREMENT_FILES:
            raise InputError(f"more than {MAX_REQUIREMENT_FILES} requirements files are included")
        files[name] = _read_regular_file(resolved, name=name, include=include)
        found = includes(files[name].decode("utf-8", errors="replace"), name=name)
        pending += [(each.name, root, each) for each in reversed(found)]
    return files


def _resolve(name: str, include: Include | None) -> Path:
    try:
        return Path(name).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop, before Python 3.13
        raise _refusal(f"cannot be resolved: {exc}", include, name) from None


def _read_regular_file(path: Path, *, name: str, include: Include | None) -> bytes:
    """The content of `path`, if it is a regular file of at most MAX_REQUIREMENTS_FILE_BYTES (a lock file's limit for
    one)."""
    limit = MAX_LOCK_FILE_BYTES if is_lock_file(name) else MAX_REQUIREMENTS_FILE_BYTES
    # Non-blocking, so that opening a FIFO returns at once (to be refused) instead of waiting for a writer.
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _refusal(f"cannot read it: {exc.strerror or exc}", include, name) from None
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)  # of what was opened, not of what the name pointed at before
        if kind == stat.S_IFREG:
            with os.fdopen(fd, "rb", closefd=False) as handle:
                content = handle.read(limit + 1)
    except OSError as exc:
        raise _refusal(f"cannot read it: {exc.strerror or exc}", include, name) from None
    finally:
        os.close(fd)
    if kind != stat.S_IFREG:
        raise _refusal(f"is not a regular file ({_KINDS.get(kind, 'of an unknown kind')})", include, name)
    if len(content) > limit:
        raise InputError(f"is larger than the limit of {limit:,} bytes", file=name)
    return content


def _refusal(reason: str, include: Include | None, name: str) -> InputError:
    """The error for a file refused before it was read: about the include line that named it, when there is one."""
    if include is None:
        return InputError(reason, file=name)
    return InputError(f"{include.option} {excerpt(include.target)}: {reason}", file=include.file, line=include.line)


def _outside(include: Include, root: Path) -> InputError:
    reason = (
        f"is outside {root}, the directory of the requirements file given (includes must stay under it, "
        f"unless {ALLOW_OUTSIDE_VARIABLE}=true)"
    )
    return _refusal(reason, include, include.name)
