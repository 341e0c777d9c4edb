"""Bar charts: horizontal bars for named values (class counts, importances), columns for histograms.

Bar names are shortened to fit beside or under their bar; a shortened name ends with an
ellipsis and carries the full name as its SVG ``<title>`` (the browser's tooltip).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ratchet.reporting.html import Safe, clip, join, tag
from ratchet.reporting.svg import Frame, axes, color, figure, tick_label


def _named(name: str, limit: int) -> tuple[Safe | None, str]:
    """(title, shown text) children of a ``<text>``: the full name on hover only when it was shortened."""
    shown = clip(name, limit)
    return (tag("title", name) if shown != name else None), shown


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
        marks.append(tag("text", *_named(name, 24), x=label_w - 6, y=y + 14, class_="tick", text_anchor="end"))
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
            x = (x0 + x1) / 2
            marks.append(tag("text", *_named(name, 12), x=x, y=frame.y(0) + 14, class_="tick", text_anchor="middle"))
    return figure(width, height, join(marks), title=title, id=id)
