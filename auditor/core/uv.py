"""Running uv: where it is, the environment it needs, and its errors as domain errors."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Sequence


class UvError(RuntimeError):
    """uv refused or failed; the message is uv's own explanation, trimmed."""


@functools.cache
def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def uv_environment() -> dict[str, str]:
    env = dict(os.environ)
    # uv ignores pip's configuration; in a scrubbed environment it must be told where the CA certificates are.
    if "SSL_CERT_FILE" not in env and os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
        env["SSL_CERT_FILE"] = "/etc/ssl/certs/ca-certificates.crt"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("VIRTUAL_ENV", None)
    return env


def find_links_args(directories: Sequence[object]) -> list[str]:
    """`--find-links` for each of `directories`, and then for the operator's UV_FIND_LINKS, which a `--find-links` on
    the command line would otherwise replace; nothing for no directories (uv then reads UV_FIND_LINKS itself)."""
    if not directories:
        return []
    operators = os.environ.get("UV_FIND_LINKS", "").replace(",", " ").split()
    return [arg for location in [*map(str, directories), *operators] for arg in ("--find-links", location)]


def run_uv(args: Sequence[str], *, stdin: str | None = None, timeout: float = 900) -> str:
    """Run `uv ARGS`; its stdout, or UvError with what it said on stderr."""
    try:
        done = subprocess.run(
            [uv_binary(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=uv_environment(),
            timeout=timeout,
            umask=0o022,  # the sandbox's unprivileged user must be able to read what uv writes
        )
    except subprocess.TimeoutExpired as exc:
        raise UvError(f"uv {args[0]} took longer than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise UvError(_explain(done.stderr))
    return done.stdout


def _explain(stderr: str) -> str:
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    # uv's useful explanation follows its "×"/"error:" line; progress lines before it are noise.
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("×", "error:")):
            lines = lines[index:]
            break
    text = "\n".join(lines[:40])
    return text[:4000] or "uv failed without saying why"
