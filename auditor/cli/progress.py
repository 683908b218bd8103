"""Progress on stderr: a line per stage (what CI logs keep), and a bar while distributions are being probed.

The bar is drawn only on a terminal. Elsewhere (a CI log, a pipe) rich would draw nothing, yet its import and its
refresh thread would cost every audit start-up and the probes CPU (bench/README.md, finding 28), so lines are printed
plainly and rich is not imported.
"""

from __future__ import annotations

import sys
from typing import Any


class ProgressBar:
    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.console: Any = None
        if sys.stderr is None or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,  # a terminal keeps the report, not the bar
        )

    def say(self, text: str) -> None:
        if self.console is None:
            print(text, file=sys.stderr, flush=True)
        else:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, *, total: int, completed: int = 0) -> None:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("probing", total=total, completed=completed)

    def update(self, *, completed: int, total: int | None = None, description: str | None = None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=completed, total=total, description=description or "probing")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
