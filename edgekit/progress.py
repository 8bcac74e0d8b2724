"""Progress on stderr for long steps (rich), silent under --quiet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console


class Progress:
    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
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

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        """Warnings show even under --quiet: they change what the numbers mean."""
        self.console.print(f"[yellow]warning:[/yellow] {message}")
