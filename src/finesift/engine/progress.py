"""Progress reporting that the API accepts and the CLI renders with rich."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Protocol


class ProgressSink(Protocol):
    def stage(self, name: str, total: int | None) -> "contextmanager[Callable[[int], None]]": ...


class NullProgress:
    """Reports nothing (library use, tests, --json)."""

    @contextmanager
    def stage(self, name: str, total: int | None) -> Iterator[Callable[[int], None]]:
        yield lambda n=1: None


class RichProgress:
    """One rich progress bar per stage, on stderr, so stdout stays clean for --json."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    @contextmanager
    def stage(self, name: str, total: int | None) -> Iterator[Callable[[int], None]]:
        task = self._progress.add_task(name, total=total)
        yield lambda n=1: self._progress.advance(task, n)
        self._progress.update(task, completed=total if total is not None else 1, total=total or 1)
