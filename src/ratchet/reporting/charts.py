"""The report's specific charts: the ledger waterfall, the confusion heatmap, calibration and ROC."""

from __future__ import annotations

import math
from typing import Any

from ratchet.reporting.html import Safe, join, num, tag
from ratchet.reporting.rundata import own_gate_metric
from ratchet.reporting.svg import MARGIN, Frame, axes, color, figure, legend, legend_height, padded_range, tick_label

UP, DOWN, FIRST, REJECTED = "#009E73", "#D55E00", "#0072B2", "#9a9a9a"
LEGEND_MAX = 8
REJECTED_NAME = "rejected candidate"
WATERFALL_KINDS = (("first score", FIRST), ("step raised it", UP), ("step lowered it", DOWN), (REJECTED_NAME, REJECTED))


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _on_the_ledger_scale(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry the rule judged on its own metric (relabel: log loss) has no gain on this chart's axis."""
    if own_gate_metric(entry) is None:
        return entry
    return {k: v for k, v in entry.items() if k not in ("gain", "ci", "candidate", "reference")}


def _bar(
    entry: dict[str, Any], before: float | None, after: float | None, candidate: float | None
) -> tuple[float | None, float, str]:
    """(level the bar starts from or None for a first score, level it reaches, its color)."""
    rejected = entry.get("status") == "rejected"
    top_value = candidate if rejected and candidate is not None else after
    gain = _finite(entry.get("gain"))
    if rejected and before is not None and gain is not None:
        # The rule may have compared its own reference (relabel's gate learner), not the shipped
        # model: draw the gain it measured from the shipped level, like the CI whiskers.
        top_value = before + gain
    if top_value is None:
        top_value = candidate  # a step that scored a candidate but wrote no level: show what it scored
    assert top_value is not None  # rows with neither an after nor a candidate were left out
    if before is None:
        return None, top_value, FIRST
    return before, top_value, REJECTED if rejected else (UP if top_value >= before else DOWN)


def waterfall(ledger: list[dict[str, Any]], metric: str) -> Safe | None:
    """Validation metric after each scored step: floating bars from before to after.

    Kept or completed steps move the level (green up, vermillion down); a rejected candidate is
    drawn hollow and grey beside an unchanged level; whiskers show the 95% interval of the gain.
    """
    rows = _waterfall_rows(ledger)
    if not rows:
        return None
    y_range = _waterfall_range(rows)
    width = max(420, MARGIN["left"] + MARGIN["right"] + 92 * len(rows))
    height = 300
    bars = [_bar(entry, before, after, candidate) for entry, before, after, candidate in rows]
    kinds = [kind for kind in WATERFALL_KINDS if any(fill == kind[1] for _, _, fill in bars)]
    names = [name for name, _ in kinds]
    frame = Frame.make(width, height, (0, len(rows)), y_range, below=legend_height(names, width))
    marks = [axes(frame, x_label="", y_label=f"validation {metric}", x_ticks=False)]
    previous_level: tuple[float, float] | None = None  # (x of the previous bar's right edge, level)
    for i, ((entry, before, after, _), bar) in enumerate(zip(rows, bars, strict=True)):
        x0, x1 = frame.x(i + 0.2), frame.x(i + 0.8)
        rect, *labels = _bar_marks(frame, entry, bar, (x0, x1), metric, height)
        marks.append(rect)
        if previous_level is not None:  # drawn over the bar before it, from its right edge
            px, level = previous_level
            marks.append(tag("line", x1=px, x2=x0, y1=frame.y(level), y2=frame.y(level), class_="connector"))
        marks += labels
        level = after if after is not None else before
        previous_level = (x1, level) if level is not None else previous_level
    if names:
        hollow = {names.index(REJECTED_NAME)} if REJECTED_NAME in names else set()
        marks.append(legend(names, frame, colors=[c for _, c in kinds], hollow=hollow))
    zoomed = " The axis is zoomed to the scores' range: it does not start at 0." if y_range[0] > 0 else ""
    return figure(
        width,
        frame.height,
        join(marks),
        title=f"ledger waterfall: validation {metric} after each step",
        caption="Bars run from the level before a step to the level after it; a dashed grey bar is a rejected "
        "candidate (the level stays); whiskers are the 95% bootstrap interval of the gain. "
        "Steps that neither score nor change the model are left out." + zoomed,
        id="ledger-waterfall",
    )


Row = tuple[dict[str, Any], float | None, float | None, float | None]
"""A ledger entry with its before, after and candidate scores."""


def _waterfall_rows(ledger: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for entry in map(_on_the_ledger_scale, ledger):
        before, after = _finite(entry.get("before")), _finite(entry.get("after"))
        candidate = _finite(entry.get("candidate"))
        if after is None and candidate is None:
            continue
        if not entry.get("gated") and before is not None and after == before:
            continue  # evaluate, report: they do not change the model, a flat bar says nothing
        rows.append((entry, before, after, candidate))
    return rows


def _waterfall_range(rows: list[Row]) -> tuple[float, float]:
    """The y range: every score and whisker end, within [0, 1] when the metric is."""
    values: list[float] = []
    for entry, before, after, candidate in rows:
        values += [v for v in (before, after, candidate) if v is not None]
        ci = entry.get("ci")
        if before is not None and isinstance(ci, list) and len(ci) == 2 and None not in ci:
            values += [before + ci[0], before + ci[1]]
    bounded = all(0.0 <= v <= 1.0 for v in values)
    return padded_range(values, floor=0.0 if bounded else None, ceil=1.0 if bounded else None)


def _bar_marks(
    frame: Frame, entry: dict[str, Any], bar: tuple[float | None, float, str], xs: tuple[float, float], metric: str,
    height: int,
) -> list[Safe]:  # fmt: skip
    """One step's bar, then its whisker (the gain's 95% interval) and its labels."""
    start, top_value, fill = bar
    x0, x1 = xs
    status = str(entry.get("status", ""))
    name = str(entry.get("step", "?"))
    rejected = status == "rejected"
    if start is None:
        y_top, y_bottom = frame.y(top_value), frame.y(frame.y.lo)
    else:
        y_a, y_b = frame.y(start), frame.y(top_value)
        y_top, y_bottom = min(y_a, y_b), max(y_a, y_b)
    gain = _finite(entry.get("gain"))
    tip = f"{name} ({status}): {metric} {num(top_value)}" + (
        f", gain {num(gain, signed=True)}" if gain is not None else ""
    )
    marks = [
        tag(
            "rect",
            tag("title", tip),
            x=x0,
            y=y_top,
            width=round(x1 - x0, 2),
            height=max(2.0, round(y_bottom - y_top, 2)),
            fill="none" if rejected else fill,
            stroke=fill,
            stroke_width=2,
            stroke_dasharray="5 3" if rejected else None,
            class_="wf-bar",
            data_step=name,
            data_status=status,
            data_value=num(top_value),
        )
    ]
    ci = entry.get("ci")
    if start is not None and isinstance(ci, list) and len(ci) == 2 and None not in ci:
        xc, lo, hi = (x0 + x1) / 2, frame.y(start + ci[0]), frame.y(start + ci[1])
        marks.append(
            tag(
                "path",
                tag("title", f"95% CI of the gain: [{num(ci[0], signed=True)}, {num(ci[1], signed=True)}]"),
                d=f"M{xc - 6},{lo} H{xc + 6} M{xc},{lo} V{hi} M{xc - 6},{hi} H{xc + 6}",
                class_="whisker",
            )
        )
    label = num(top_value) if gain is None or start is None else f"{num(gain, signed=True)}"
    marks.append(tag("text", label, x=(x0 + x1) / 2, y=y_top - 5, class_="value", text_anchor="middle"))
    marks.append(tag("text", name, x=(x0 + x1) / 2, y=height - 24, class_="tick strong", text_anchor="middle"))
    marks.append(tag("text", status, x=(x0 + x1) / 2, y=height - 10, class_="tick", text_anchor="middle"))
    return marks


def confusion_heatmap(matrix: list[list[int]], labels: list[str]) -> Safe:
    """The confusion matrix as a table shaded by row share: numbers stay readable without color."""
    header = tag(
        "tr",
        tag("th", "true \\ predicted", class_="corner"),
        *(tag("th", label, scope="col") for label in labels),
        tag("th", "total", scope="col"),
    )
    body = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            background = f"rgba(0, 114, 178, {0.08 + 0.85 * share:.3f})" if count else "transparent"
            cells.append(
                tag(
                    "td",
                    f"{count:,}",
                    class_="cm-cell" + (" diag" if i == j else "") + (" dark" if share > 0.5 else ""),
                    style=f"background:{background}",
                    title=f"true {labels[i]}, predicted {labels[j]}: {count} ({share:.0%} of the row)",
                    data_count=count,
                )
            )
        body.append(tag("tr", tag("th", labels[i], scope="row"), *cells, tag("td", f"{sum(row):,}", class_="num")))
    table = tag(
        "table",
        tag("caption", "Rows: true label; columns: predicted label; shading: share of the row."),
        tag("thead", header),
        tag("tbody", join(body)),
        id="confusion-matrix",
        class_="confusion",
    )
    return tag("div", table, class_="scroll")  # many classes: scroll sideways, not off the page


def reliability_diagram(bins: list[dict[str, Any]], ece: float | None) -> Safe | None:
    """Accuracy per confidence bin against the diagonal of perfect calibration."""
    filled = [b for b in bins if b.get("count") and b.get("accuracy") is not None]
    if not filled:
        return None
    size = 300
    frame = Frame.make(size + 40, size, (0.0, 1.0), (0.0, 1.0))
    marks = [axes(frame, x_label="confidence (max probability)", y_label="accuracy")]
    marks.append(tag("line", x1=frame.x(0), y1=frame.y(0), x2=frame.x(1), y2=frame.y(1), class_="diagonal"))
    for b in filled:
        x0, x1 = frame.x(b["lo"]), frame.x(b["hi"])
        y = frame.y(b["accuracy"])
        tip = (
            f"confidence {b['lo']:.2f}-{b['hi']:.2f}: {b['count']} rows, accuracy {b['accuracy']:.3f}, "
            f"mean confidence {b['confidence']:.3f}"
        )
        marks.append(
            tag(
                "rect",
                tag("title", tip),
                x=x0 + 1,
                y=y,
                width=max(1.0, round(x1 - x0 - 2, 2)),
                height=round(frame.y(0) - y, 2),
                fill=color(0),
                opacity=0.85,
            )
        )
        cy = frame.y(b["confidence"])
        marks.append(tag("line", x1=x0 + 1, x2=x1 - 1, y1=cy, y2=cy, stroke=DOWN, stroke_width=2))
    caption = "Blue bars: accuracy of the rows in each confidence bin; vermillion ticks: their mean confidence."
    if ece is not None:
        caption += f" Expected calibration error {ece:.4f}."
    return figure(
        frame.width,
        frame.height,
        join(marks),
        title="reliability diagram (sealed test)",
        caption=caption,
        id="reliability",
    )


def roc_chart(curves: dict[str, Any]) -> Safe | None:
    """One-vs-rest ROC curve per class, with its AUC in the legend."""
    usable = [(name, c) for name, c in curves.items() if isinstance(c, dict) and c.get("fpr") and c.get("tpr")]
    if not usable:
        return None
    size = 300
    names = [f"{name} {c['auc']:.3f}" if isinstance(c.get("auc"), (int, float)) else str(name) for name, c in usable]
    # Past a handful of classes colors repeat and the legend would outgrow the chart: AUCs are in the table.
    few = len(usable) <= LEGEND_MAX
    frame = Frame.make(size + 40, size, (0.0, 1.0), (0.0, 1.0), below=legend_height(names, size + 40) if few else 0)
    marks = [axes(frame, x_label="false positive rate", y_label="true positive rate")]
    marks.append(tag("line", x1=frame.x(0), y1=frame.y(0), x2=frame.x(1), y2=frame.y(1), class_="diagonal"))
    for index, (name, curve) in enumerate(usable):
        auc = curve.get("auc")
        path = " ".join(f"{frame.x(x)},{frame.y(y)}" for x, y in zip(curve["fpr"], curve["tpr"], strict=False))
        marks.append(
            tag(
                "polyline",
                tag("title", f"{name}: AUC {tick_label(auc) if auc is not None else 'n/a'}"),
                points=path,
                fill="none",
                stroke=color(index),
                stroke_width=2,
            )
        )
    if few:
        marks.append(legend(names, frame))
    return figure(
        frame.width,
        frame.height,
        join(marks),
        title="ROC curves (one-vs-rest, sealed test)",
        caption="Legend: class and its area under the curve."
        if few
        else "Hover a curve for its class; the AUC of every class is in the per-class table.",
        id="roc-curves",
    )
