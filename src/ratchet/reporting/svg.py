"""Inline SVG charts drawn in Python: no plotting library, no script, no network.

Each chart is a ``<figure>`` holding one ``<svg>`` whose marks carry a ``<title>``
(the browser shows it as a tooltip), so the numbers are one hover away without
any JavaScript. Colors are the Okabe-Ito palette, readable by color-blind users.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ratchet.reporting.html import Safe, clip, join, tag

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#444444")
MARGIN = {"left": 58, "right": 16, "top": 14, "bottom": 42}
LEGEND_ROW = 16
LEGEND_SWATCH = 14
"""A legend item's swatch and the space after it, in px."""
LEGEND_GAP = 14


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
    """A chart's size and its plotting area (the rectangle between the axes), with the two axes."""

    width: int
    height: int
    """The whole SVG's height: the plot, its axis titles and any legend band below them."""
    x: Axis
    y: Axis

    @classmethod
    def make(
        cls,
        width: int,
        height: int,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        *,
        below: int = 0,
    ) -> Frame:
        """``height`` holds the plot and its axis titles; ``below`` adds a band under them (the legend's)."""
        x = Axis(x_range[0], x_range[1], MARGIN["left"], width - MARGIN["right"])
        y = Axis(y_range[0], y_range[1], height - MARGIN["bottom"], MARGIN["top"])
        return cls(width, height + below, x, y)

    @property
    def left(self) -> float:
        return self.x.px_lo

    @property
    def right(self) -> float:
        return self.x.px_hi

    @property
    def top(self) -> float:
        return self.y.px_hi

    @property
    def bottom(self) -> float:
        return self.y.px_lo


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
    left, right, top, bottom = frame.left, frame.right, frame.top, frame.bottom
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
    # The two axis lines bound the plot area: tests (and readers of the SVG) find it by these classes.
    parts.append(tag("line", x1=left, x2=right, y1=bottom, y2=bottom, class_="axis x-axis"))
    parts.append(tag("line", x1=left, x2=left, y1=top, y2=bottom, class_="axis y-axis"))
    label_y = bottom + MARGIN["bottom"] - 6
    parts.append(tag("text", x_label, x=(left + right) / 2, y=label_y, class_="label", text_anchor="middle"))
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


def text_width(text: str, size: float = 11) -> float:
    """Rough rendered width of ``text`` in px: wide (CJK) glyphs are a full em, others 0.64 em.

    Measured in Chromium with the report's fonts, Latin words run 0.5-0.6 em and digits 0.64 em: the
    estimate errs wide, so legend items never run into each other or off the chart.
    """
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.64 * size for ch in text)


def legend_rows(names: Sequence[str], width: int) -> list[list[tuple[float, str]]]:
    """Legend items flowed left to right under the plot, wrapping to a new row at the chart's right edge.

    Each row is a list of (x, label); a label too long for a whole row is shortened with an ellipsis.
    """
    left, right = MARGIN["left"], width - MARGIN["right"]
    rows: list[list[tuple[float, str]]] = [[]]
    x = left
    for name in names:
        label = name
        while len(label) > 1 and LEGEND_SWATCH + text_width(label) > right - left:
            label = clip(name, len(label) - 1)
        item = LEGEND_SWATCH + text_width(label) + LEGEND_GAP
        if rows[-1] and x + item - LEGEND_GAP > right:
            rows.append([])
            x = left
        rows[-1].append((x, label))
        x += item
    return rows if rows[0] else []


def legend_height(names: Sequence[str], width: int) -> int:
    """Height of the band that :func:`legend` needs below the axes (0 without names)."""
    rows = len(legend_rows(names, width))
    return rows * LEGEND_ROW + 4 if rows else 0


def legend(
    names: Sequence[str], frame: Frame, *, colors: Sequence[str] | None = None, hollow: Collection[int] = ()
) -> Safe:
    """Colored swatches, one per series, in the band below the x-axis title: never over the data.

    The chart must have been made with ``Frame.make(..., below=legend_height(names, width))``.
    ``hollow`` swatches (by index) are dashed outlines, like the marks they stand for.
    """
    parts = []
    top = frame.bottom + MARGIN["bottom"]
    index = 0
    for row, items in enumerate(legend_rows(names, frame.width)):
        y = top + row * LEGEND_ROW
        for x, label in items:
            fill = colors[index] if colors is not None else color(index)
            full = names[index]
            outline = index in hollow
            parts.append(
                tag(
                    "rect",
                    x=round(x, 2),
                    y=y + 2,
                    width=10,
                    height=10,
                    fill="none" if outline else fill,
                    stroke=fill if outline else None,
                    stroke_width=1.5 if outline else None,
                    stroke_dasharray="3 2" if outline else None,
                )
            )
            title = tag("title", full) if label != full else None
            parts.append(tag("text", title, label, x=round(x + LEGEND_SWATCH, 2), y=y + 11, class_="tick"))
            index += 1
    return tag("g", *parts, class_="legend")


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
    names = [s.name for s in series] if len(series) > 1 else []
    y_range = padded_range(ys, floor=y_floor, ceil=y_ceil)
    frame = Frame.make(width, height, x_range, y_range, below=legend_height(names, width))
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
    if names:
        marks.append(legend(names, frame))
    return figure(width, frame.height, join(marks), title=title, id=id)
