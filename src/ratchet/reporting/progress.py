"""Progress display: one rich bar per step and per epoch on a terminal, plain lines in a log, or nothing.

Steps and the training loop only see this small API (``bar`` -> handle with
``advance``/``update``), so they never depend on rich directly. When the output is not a
terminal (a log file, CI), a live bar would print nothing until the end, so each bar prints
one plain line every ``line_every_s`` seconds instead: name, count, percent, the fields
(epoch, loss, tokens/s), time elapsed and time left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


class PlainBar:
    """A bar for output that is not a terminal: a plain line at most every ``every_s`` seconds, and at the end."""

    def __init__(
        self,
        console: Console,
        description: str,
        total: float | None,
        fields: dict[str, Any],
        every_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console, self._description, self._total = console, description, total
        self._fields = dict(fields)
        self._every_s, self._clock = every_s, clock
        self._done = 0.0
        self._started = clock()
        self._printed = self._started

    def advance(self, n: float = 1, **fields: Any) -> None:
        self._done += n
        self._fields.update(fields)
        self._maybe_print()

    def update(self, total: float | None = None, **fields: Any) -> None:
        if total is not None:
            self._total = total
        self._fields.update(fields)
        self._maybe_print()

    def _maybe_print(self) -> None:
        now = self._clock()
        if now - self._printed >= self._every_s:
            self._printed = now
            self.print_line()

    def print_line(self, final: bool = False) -> None:
        elapsed = self._clock() - self._started
        parts = [self._description]
        if self._total:
            parts.append(f"{self._done:,.0f}/{self._total:,.0f} ({100 * self._done / self._total:.0f}%)")
        elif self._done:
            parts.append(f"{self._done:,.0f}")
        info = _format_fields(self._fields)
        if info:
            parts.append(info)
        parts.append(f"elapsed {_clock_time(elapsed)}")
        if not final and self._total and 0 < self._done < self._total:
            parts.append(f"left {_clock_time(elapsed * (self._total - self._done) / self._done)}")
        if final:
            parts.append("done")
        # soft_wrap: a log line is never cut at the console's width (80 when it is not a terminal)
        self._console.print("  ".join(parts), markup=False, highlight=False, soft_wrap=True)


class Progress:
    """Owns one rich Progress; ``enabled=False`` makes every bar a no-op (tests, library use).

    ``plain``: None decides by the console (plain lines when it is not a terminal).
    """

    def __init__(
        self,
        console: Console | None = None,
        enabled: bool = True,
        plain: bool | None = None,
        line_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.line_every_s = line_every_s
        self._clock = clock
        self._rich: RichProgress | None = None

    def __enter__(self) -> Progress:
        if self.enabled and not self.plain:
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
    def bar(self, description: str, total: float | None, **fields: Any) -> Iterator[BarHandle | PlainBar]:
        if self.enabled and self.plain:
            plain = PlainBar(self.console, description, total, fields, self.line_every_s, self._clock)
            yield plain
            plain.print_line(final=True)
            return
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


def _clock_time(seconds: float) -> str:
    """90 -> 1:30, 3725 -> 1:02:05."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
