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


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_output_that_is_not_a_terminal_gets_plain_periodic_lines() -> None:
    clock = FakeClock()
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)  # a file: not a terminal
    with Progress(console=console, line_every_s=10, clock=clock) as progress:
        assert progress.plain
        with progress.bar("train", total=100, loss=None, epoch=0.0) as bar:
            for step in range(100):
                clock.now += 0.5  # 50 s in all: a line at 10, 20, 30, 40 and 50 s, then the final one
                bar.advance(1, loss=round(1.0 - step / 200, 3), epoch=step / 50, tok_s=850.0)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 6, lines
    assert lines[0] == "train  20/100 (20%)  loss 0.905  epoch 0.38  tok_s 850  elapsed 0:10  left 0:40"
    assert lines[-1].startswith("train  100/100 (100%)") and lines[-1].endswith("elapsed 0:50  done")
    assert "None" not in buffer.getvalue() and "\x1b" not in buffer.getvalue()


def test_a_terminal_keeps_the_live_bar_and_quiet_prints_nothing() -> None:
    assert not Progress(console=Console(file=io.StringIO(), force_terminal=True)).plain
    buffer = io.StringIO()
    with Progress(console=Console(file=buffer), enabled=False) as progress, progress.bar("x", total=3) as bar:
        bar.advance(3)
    assert buffer.getvalue() == ""
