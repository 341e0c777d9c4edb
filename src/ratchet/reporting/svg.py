"""Inline SVG charts drawn in Python: no plotting library, no script, no network.

Each chart is a ``<figure>`` holding one ``<svg>`` whose marks carry a ``<title>``
(the browser shows it as a tooltip), so the numbers are one hover away without
any JavaScript. Colors are the Okabe-Ito palette, readable by color-blind users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ratchet.reporting.html import Safe, join, tag

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#444444")
MARGIN = {"left": 58, "right": 16, "top": 14, "bottom": 42}


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1-2-5 steps), the way people label axes."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def tick_label(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10000:
        return f"{value / 1000:.0f}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.4g}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Axis:
    lo: float
    hi: float
    px_lo: float
    px_hi: float

    def __call__(self, value: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return round(self.px_lo + (value - self.lo) / span * (self.px_hi - self.px_lo), 2)


@dataclass(frozen=True)
class Frame:
    """The plotting area of a chart and its two axes."""

    width: int
    height: int
    x: Axis
    y: Axis

    @classmethod
    def make(cls, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float]) -> Frame:
        x = Axis(x_range[0], x_range[1], MARGIN["left"], width - MARGIN["right"])
        y = Axis(y_range[0], y_range[1], height - MARGIN["bottom"], MARGIN["top"])
        return cls(width, height, x, y)


def padded_range(
    values: Sequence[float], *, floor: float | None = None, ceil: float | None = None
) -> tuple[float, float]:
    """Data range with 8% headroom, clipped to [floor, ceil] when given (e.g. scores in [0, 1])."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return (0.0, 1.0)
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    if floor is not None:
        lo = max(lo, floor)
    if ceil is not None:
        hi = min(hi, ceil)
    return lo, hi


def axes(frame: Frame, *, x_label: str, y_label: str, x_ticks: bool = True) -> Safe:
    """Grid lines, tick labels and axis titles."""
    parts = []
    left, right = MARGIN["left"], frame.width - MARGIN["right"]
    bottom, top = frame.height - MARGIN["bottom"], MARGIN["top"]
    for value in nice_ticks(frame.y.lo, frame.y.hi):
        if frame.y.lo - 1e-12 <= value <= frame.y.hi + 1e-12:
            y = frame.y(value)
            parts.append(tag("line", x1=left, x2=right, y1=y, y2=y, class_="grid"))
            parts.append(tag("text", tick_label(value), x=left - 6, y=y + 4, class_="tick", text_anchor="end"))
    if x_ticks:
        for value in nice_ticks(frame.x.lo, frame.x.hi, count=6):
            if frame.x.lo - 1e-12 <= value <= frame.x.hi + 1e-12:
                x = frame.x(value)
                parts.append(tag("line", x1=x, x2=x, y1=bottom, y2=bottom + 4, class_="axis"))
                parts.append(tag("text", tick_label(value), x=x, y=bottom + 16, class_="tick", text_anchor="middle"))
    parts.append(tag("line", x1=left, x2=right, y1=bottom, y2=bottom, class_="axis"))
    parts.append(tag("line", x1=left, x2=left, y1=top, y2=bottom, class_="axis"))
    parts.append(tag("text", x_label, x=(left + right) / 2, y=frame.height - 6, class_="label", text_anchor="middle"))
    mid = (top + bottom) / 2
    parts.append(
        tag("text", y_label, x=14, y=mid, class_="label", text_anchor="middle", transform=f"rotate(-90 14 {mid})")
    )
    return join(parts)


def figure(
    width: int, height: int, body: Safe, *, title: str, caption: str | None = None, id: str | None = None
) -> Safe:
    svg = tag(
        "svg",
        tag("title", title),
        body,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_label=title,
    )
    # The figure is as wide as its chart, so a long caption wraps instead of widening it.
    return tag(
        "figure", svg, tag("figcaption", caption) if caption else None, id=id, class_="chart", style=f"width:{width}px"
    )


def legend(names: Sequence[str], frame: Frame, *, vertical: bool = False) -> Safe:
    """Colored swatches, one per series: along the top right, or stacked in the lower right corner."""
    parts = []
    if vertical:
        x = frame.width - MARGIN["right"] - 22 - 7 * max((len(n) for n in names), default=0)
        y = frame.height - MARGIN["bottom"] - 8 - 16 * len(names)
        parts.append(
            tag(
                "rect",
                x=x - 6,
                y=y - 4,
                width=frame.width - MARGIN["right"] - x + 4,
                height=16 * len(names) + 6,
                class_="legend-box",
            )
        )
        for index, label in enumerate(names):
            parts.append(tag("rect", x=x, y=y + 16 * index, width=10, height=10, fill=color(index)))
            parts.append(tag("text", label, x=x + 14, y=y + 9 + 16 * index, class_="tick"))
        return join(parts)
    x = frame.width - MARGIN["right"]
    for index in reversed(range(len(names))):
        label = names[index]
        x -= 14 + 7 * len(label)
        parts.append(tag("rect", x=x, y=2, width=10, height=10, fill=color(index)))
        parts.append(tag("text", label, x=x + 13, y=11, class_="tick"))
    return join(parts)


@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 350,
    height: int = 240,
    y_floor: float | None = None,
    y_ceil: float | None = None,
    id: str | None = None,
) -> Safe:
    """Lines with dot markers; None values break nothing (the point is skipped)."""
    points = [[(x, y) for x, y in zip(s.xs, s.ys, strict=False) if y is not None and math.isfinite(y)] for s in series]
    xs = [x for pts in points for x, _ in pts]
    ys = [y for pts in points for _, y in pts]
    x_range = (min(xs), max(xs)) if xs and min(xs) < max(xs) else ((xs[0] - 1, xs[0] + 1) if xs else (0, 1))
    frame = Frame.make(width, height, x_range, padded_range(ys, floor=y_floor, ceil=y_ceil))
    marks = [axes(frame, x_label=x_label, y_label=y_label)]
    for index, (one, pts) in enumerate(zip(series, points, strict=True)):
        if not pts:
            continue
        path = " ".join(f"{frame.x(x)},{frame.y(y)}" for x, y in pts)
        marks.append(tag("polyline", points=path, fill="none", stroke=color(index), stroke_width=2))
        for x, y in pts:
            marks.append(
                tag(
                    "circle",
                    tag("title", f"{one.name}: {tick_label(x)} -> {y:.4g}"),
                    cx=frame.x(x),
                    cy=frame.y(y),
                    r=3,
                    fill=color(index),
                )
            )
    if len(series) > 1:
        marks.append(legend([s.name for s in series], frame))
    return figure(width, height, join(marks), title=title, id=id)


def hbar_chart(
    names: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_label: str,
    id: str | None = None,
    width: int = 420,
) -> Safe:
    """Horizontal bars with the value printed at the end: class counts, importances."""
    row, label_w = 22, min(180, 12 + 7 * max((len(n) for n in names), default=4))
    height = 24 + row * len(names)
    top = max((v for v in values if v is not None), default=1) or 1
    span = width - label_w - 70
    marks = []
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        y = 12 + i * row
        w = max(0.0, (value or 0) / top * span)
        shown = name if len(name) <= 24 else name[:23] + "…"
        marks.append(tag("text", shown, x=label_w - 6, y=y + 14, class_="tick", text_anchor="end"))
        marks.append(
            tag(
                "rect",
                tag("title", f"{name}: {value:.4g}"),
                x=label_w,
                y=y + 3,
                width=round(w, 2),
                height=row - 6,
                fill=color(0),
            )
        )
        marks.append(tag("text", tick_label(value), x=label_w + w + 5, y=y + 15, class_="tick"))
    marks.append(tag("text", value_label, x=label_w + span / 2, y=height - 2, class_="label", text_anchor="middle"))
    return figure(width, height, join(marks), title=title, id=id)


def column_chart(
    names: Sequence[str], values: Sequence[float], *, title: str, x_label: str, y_label: str, id: str | None = None
) -> Safe:
    """Vertical bars (a histogram when names are bin ranges), each bar named below the axis."""
    bar = max(44, 7 * max((len(n) for n in names), default=0) + 10)  # room for the bar's name
    width, height = max(300, 90 + bar * len(values)), 250
    frame = Frame.make(width, height, (0, max(len(values), 1)), (0, max(values, default=1) * 1.08 or 1))
    marks = [axes(frame, x_label=x_label, y_label=y_label, x_ticks=False)]
    every = max(1, math.ceil(len(values) / 14))  # keep bar names from overlapping
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        x0, x1 = frame.x(i + 0.1), frame.x(i + 0.9)
        y = frame.y(value)
        marks.append(
            tag(
                "rect",
                tag("title", f"{name}: {value:,}"),
                x=x0,
                y=y,
                width=round(x1 - x0, 2),
                height=round(frame.y(0) - y, 2),
                fill=color(0),
            )
        )
        if i % every == 0:
            label = name if len(name) <= 12 else name[:11] + "…"
            marks.append(tag("text", label, x=(x0 + x1) / 2, y=frame.y(0) + 14, class_="tick", text_anchor="middle"))
    return figure(width, height, join(marks), title=title, id=id)
