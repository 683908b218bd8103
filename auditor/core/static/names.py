"""What the static scan looks for, and the file and excerpt it hands from one pass to the next.

A leaf: the prefilter, the libcst pass and the entry point all import it, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

THREAD_CALLS = frozenset(
    {
        "threading.Thread",
        "threading.Timer",
        "_thread.start_new_thread",
        "_thread.start_new",
        "concurrent.futures.ThreadPoolExecutor",
        "concurrent.futures.thread.ThreadPoolExecutor",
        "multiprocessing.pool.ThreadPool",
        "multiprocessing.dummy.Pool",
    }
)
FORK_CALLS = frozenset({"os.fork", "os.forkpty", "multiprocessing.set_start_method", "multiprocessing.get_context"})
ATFORK_CALL = "os.register_at_fork"
ATFORK_HOOKS = ("before", "after_in_child", "after_in_parent")
# The last part of every watched name: what a call's text must end with to be one.
LAST_NAMES = frozenset(name.rpartition(".")[2] for name in THREAD_CALLS | FORK_CALLS | {ATFORK_CALL})
# Every watched name lives in one of these modules (os only for fork, forkpty and register_at_fork).
WATCHED_MODULES = frozenset({"threading", "_thread", "concurrent", "multiprocessing"})


@dataclass(frozen=True)
class SourceFile:
    path: Path
    file: str  # relative to the scanned root, posix
    module: str | None  # None when the path is not an importable dotted name


@dataclass(frozen=True)
class Excerpt:
    """The part of a file that libcst reads; `lines[i]` is the original number of its line i + 1 (None: all of it)."""

    text: bytes
    lines: tuple[int, ...] | None = None

    def original_line(self, line: int) -> int:
        return line if self.lines is None else self.lines[line - 1]
