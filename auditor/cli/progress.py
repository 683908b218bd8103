"""Progress on stderr: a line per stage (what CI logs keep), and a bar while distributions are being probed."""

from __future__ import annotations

from typing import Any


class ProgressBar:
    def __init__(self) -> None:
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
        self.task: Any = None

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, *, total: int, completed: int = 0) -> None:
        self.bar.start()
        self.task = self.bar.add_task("probing", total=total, completed=completed)

    def update(self, *, completed: int, total: int | None = None, description: str | None = None) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=completed, total=total, description=description or "probing")

    def close(self) -> None:
        self.bar.stop()
