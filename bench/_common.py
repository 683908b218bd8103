"""What the benchmarks share: the repository on sys.path, statistics, and a plain-text table.

Not a benchmark itself (the leading underscore); the scripts in this folder import it as `_common`.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.wheelfactory, and auditor when it is not installed
VENV_BIN = Path(sys.executable).parent
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

if TYPE_CHECKING:
    from auditor.core.environments import AuditEnvironment


def machine() -> str:
    return (
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, runner Python {platform.python_version()}, {load()} at start"
    )


def load() -> str:
    """The 1-minute load average: other work on the machine skews every figure (the ratios less than the times)."""
    return f"load average {os.getloadavg()[0]:.2f}"


def timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def children_cpu() -> float:
    """User + system CPU seconds of every child process waited for so far (and of their waited-for children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_timed(function: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of the child processes it ran, its value): CPU time is what other work on a
    shared machine disturbs least.

    What earlier steps left to write back is flushed first, untimed: on a file system that discards freed blocks
    online (this machine's ext4), the deletion of one step's environment otherwise lands in the next step's install.
    """
    os.sync()
    cpu = children_cpu()
    wall, value = timed(function)
    return wall, children_cpu() - cpu, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    """The 90th percentile (nearest rank), so that it is one of the measured values."""
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base > 0 else "n/a"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal, and pasted as is into bench/README.md)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True))
            + " |"
        )

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric, strict=True))
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _is_number(text: str) -> bool:
    text = text.rstrip("×%s").replace(",", "")
    try:
        float(text)
    except ValueError:
        return text in ("", "n/a", "—")
    return True


def uv_env() -> dict[str, str]:
    """The environment uv needs here (it ignores pip's config; CA certificates named explicitly)."""
    env = dict(os.environ)
    env.setdefault("SSL_CERT_FILE", CA_FILE)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.pop("VIRTUAL_ENV", None)
    return env


def uv_venv(root: Path, python: str) -> AuditEnvironment:
    """`uv venv`: how the baselines make an environment, as anyone would (forkaudit writes its own,
    auditor.core.environments.create_environment)."""
    import subprocess

    from auditor.core.environments import AuditEnvironment, interpreter_info, venv_site_packages
    from auditor.core.uv import uv_binary

    args = [uv_binary(), "venv", "--quiet", "--python", python, "--no-project", str(root)]
    subprocess.run(args, env=uv_env(), check=True, capture_output=True, umask=0o022)
    info = interpreter_info(python)
    site_packages = venv_site_packages(root, info.version)
    interpreter = info.executable or Path(python).resolve()
    return AuditEnvironment(
        root, root / "bin" / "python", site_packages, info.base_prefix, info.version, info.platform, interpreter
    )


def scratch() -> tuple[Path, Path]:
    """A temporary directory that the sandbox's unprivileged user can read, and an empty working directory in it."""
    tmp = Path(tempfile.mkdtemp(prefix="forkaudit-bench-"))
    os.chmod(tmp, 0o755)
    (tmp / "cwd").mkdir()
    return tmp, tmp / "cwd"
