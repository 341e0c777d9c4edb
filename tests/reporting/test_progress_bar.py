"""The console progress bar: counts and the extra fields, never a stray "None"."""

from __future__ import annotations

import io

from rich.console import Console

from ratchet.reporting.progress import Progress


def render(steps) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, color_system=None)
    with Progress(console=console) as progress, progress.bar("predict", total=3) as bar:
        steps(bar)
    return buffer.getvalue()


def test_advancing_without_fields_shows_no_none() -> None:
    out = render(lambda bar: [bar.advance(1) for _ in range(3)])
    assert "3/3" in out and "None" not in out


def test_fields_are_shown_and_kept_until_replaced() -> None:
    def steps(bar) -> None:
        bar.advance(1, loss=0.5)
        bar.advance(2)

    out = render(steps)
    assert "3/3" in out and "loss" in out and "0.5" in out and "None" not in out
