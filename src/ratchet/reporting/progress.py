"""Progress display: one rich bar per step and per epoch, silent when asked to be.

Steps and the training loop only see this small API (``bar`` -> handle with
``advance``/``update``), so they never depend on rich directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class BarHandle:
    """A live bar; extra fields (loss, tok/s, ...) are shown after the counts."""

    def __init__(self, rich_progress: RichProgress | None, task: TaskID | None) -> None:
        self._progress = rich_progress
        self._task = task

    def advance(self, n: float = 1, **fields: Any) -> None:
        if self._progress is not None and self._task is not None:
            # Without fields the info column keeps its text (passing info=None would print "None").
            extra = {"info": _format_fields(fields)} if fields else {}
            self._progress.update(self._task, advance=n, **extra)

    def update(self, total: float | None = None, **fields: Any) -> None:
        if self._progress is None or self._task is None:
            return
        kwargs: dict[str, Any] = {}
        if total is not None:
            kwargs["total"] = total
        if fields:
            kwargs["info"] = _format_fields(fields)
        self._progress.update(self._task, **kwargs)


class Progress:
    """Owns one rich Progress; ``enabled=False`` makes every bar a no-op (tests, library use)."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self._rich: RichProgress | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._rich = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=False,
            )
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)
            self._rich = None

    @contextmanager
    def bar(self, description: str, total: float | None, **fields: Any) -> Iterator[BarHandle]:
        if self._rich is None:
            yield BarHandle(None, None)
            return
        task = self._rich.add_task(description, total=total, info=_format_fields(fields))
        try:
            yield BarHandle(self._rich, task)
        finally:
            self._rich.stop_task(task)

    def log(self, message: str) -> None:
        if self.enabled:
            self.console.print(message)


def _format_fields(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
        parts.append(f"{key} {value}")
    return "  ".join(parts)
