"""Progress on stderr for long steps (rich), silent under --quiet; third-party chatter only with verbose."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


class Progress:
    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose  # let the libraries edgekit calls (NNCF, ORT's tools) print their own lines
        self.console = Console(stderr=True, highlight=False)

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        """A spinner while the step runs, then one line with its duration."""
        if self.quiet:
            yield
            return
        start = time.perf_counter()
        with self.console.status(description + " ..."):
            yield
        self.console.print(f"[green]done[/green] {description} ({time.perf_counter() - start:.1f}s)")

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; the body calls the yielded function with the number of items done."""
        if self.quiet:
            yield lambda advance=1: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        with RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=self.console, transient=True) as rich_progress:
            task = rich_progress.add_task(description, total=total)
            yield lambda advance=1: rich_progress.advance(task, advance)
        self.console.print(f"[green]done[/green] {description}")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        """Warnings show even under --quiet: they change what the numbers mean."""
        self.console.print(f"[yellow]warning:[/yellow] {message}")
