"""Chart legends sit outside the plot area, inside the SVG: checked on the SVG geometry, no browser needed.

The plot area is read from the drawn axis lines (``line.x-axis``, ``line.y-axis``), a legend's
extent from its swatches and labels (label width as the chart code estimates it, which errs wide;
test_report_in_browser checks the rendered boxes too).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ratchet.evaluation.metrics import classification_metrics
from ratchet.reporting.charts import reliability_diagram, roc_chart, waterfall
from ratchet.reporting.svg import Series, line_chart, text_width

NS = {"svg": "http://www.w3.org/2000/svg"}
Box = tuple[float, float, float, float]  # left, top, right, bottom


def parse(figure: str) -> ET.Element:
    svg = ET.fromstring(figure).find("svg:svg", NS)
    assert svg is not None
    return svg


def plot_area(svg: ET.Element) -> Box:
    x_axis = svg.find(".//svg:line[@class='axis x-axis']", NS)
    y_axis = svg.find(".//svg:line[@class='axis y-axis']", NS)
    assert x_axis is not None and y_axis is not None
    top = min(float(y_axis.get("y1")), float(y_axis.get("y2")))
    return float(y_axis.get("x1")), top, float(x_axis.get("x2")), float(x_axis.get("y1"))


def legend_boxes(svg: ET.Element) -> list[Box]:
    """A box per swatch and per label of the chart's legend (empty without a legend)."""
    legend = svg.find(".//svg:g[@class='legend']", NS)
    if legend is None:
        return []
    boxes = []
    for mark in legend:
        if mark.tag.endswith("rect"):
            x, y = float(mark.get("x")), float(mark.get("y"))
            boxes.append((x, y, x + float(mark.get("width")), y + float(mark.get("height"))))
        elif mark.tag.endswith("text"):
            x, baseline = float(mark.get("x")), float(mark.get("y"))
            label = "".join(mark.itertext()).removeprefix(mark.findtext("svg:title", "", NS))
            boxes.append((x, baseline - 11, x + text_width(label), baseline + 3))  # 11px labels: ascent, descent
    return boxes


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def assert_legend_outside_plot(figure: str, *, expect_legend: bool) -> list[Box]:
    svg = parse(figure)
    plot = plot_area(svg)
    _, _, width, height = (float(v) for v in svg.get("viewBox").split())
    assert (float(svg.get("width")), float(svg.get("height"))) == (width, height)
    boxes = legend_boxes(svg)
    assert bool(boxes) == expect_legend
    for box in boxes:
        assert not overlaps(box, plot), f"legend item {box} covers the plot area {plot}"
        assert box[1] > plot[3] + 30, "the legend must also clear the x-axis title under the plot"
        assert box[0] >= 0 and box[2] <= width and box[3] <= height, f"legend item {box} is cut off ({width}x{height})"
    labels = [b for i, b in enumerate(boxes) if i % 2]
    for i, a in enumerate(labels):
        assert not any(overlaps(a, b) for b in labels[i + 1 :]), "legend labels run into each other"
    return boxes


def _rising(n: int, offset: float) -> list[float]:
    # Curves that end high on the right: right where a top-right legend used to be drawn.
    return [offset + 0.9 * i / (n - 1) for i in range(n)]


@pytest.mark.parametrize(
    "names",
    [
        ["train", "valid"],
        ["trial", "best so far"],
        [f"series number {i}" for i in range(7)],
        ["a name far too long to fit on one legend row of a small chart, " * 3, "short"],
    ],
)
def test_line_chart_legends_are_below_the_plot(names: list[str]) -> None:
    xs = [float(x) for x in range(10)]
    series = [Series(name, xs, _rising(10, 0.01 * i)) for i, name in enumerate(names)]
    figure = line_chart(series, title="t", x_label="step", y_label="loss")
    boxes = assert_legend_outside_plot(figure, expect_legend=True)
    assert len(boxes) == 2 * len(names)


def test_a_long_legend_name_is_shortened_with_an_ellipsis_and_kept_whole_on_hover() -> None:
    long = "<b>validation</b> " * 20
    xs = [0.0, 1.0]
    svg = parse(line_chart([Series(long, xs, [0, 1]), Series("x", xs, [1, 0])], title="t", x_label="x", y_label="y"))
    label = svg.find(".//svg:g[@class='legend']/svg:text", NS)
    assert label is not None
    assert label.findtext("svg:title", None, NS) == long
    shown = "".join(label.itertext()).removeprefix(long)
    assert shown.endswith("\u2026") and long.startswith(shown[:-1])


def test_a_single_series_has_no_legend_and_keeps_its_size() -> None:
    figure = line_chart([Series("loss", [1.0, 2.0, 3.0], [3.0, 2.0, 1.0])], title="LM loss", x_label="s", y_label="l")
    assert_legend_outside_plot(figure, expect_legend=False)
    assert parse(figure).get("height") == "240"


@pytest.mark.parametrize("classes", [2, 3, 8])
def test_roc_legend_is_below_the_plot(classes: int) -> None:
    rng = np.random.default_rng(classes)
    labels = [f"class {i}" for i in range(classes)]
    y = np.arange(40 * classes) % classes
    probs = rng.dirichlet(np.ones(classes), len(y))
    probs[np.arange(len(y)), y] += 0.6
    metrics = classification_metrics(y, probs / probs.sum(axis=1, keepdims=True), labels, n_bootstrap=10)
    figure = roc_chart(metrics["roc_curves"])
    assert figure is not None
    boxes = assert_legend_outside_plot(figure, expect_legend=True)
    assert len(boxes) == 2 * classes


def test_roc_with_many_classes_has_no_legend() -> None:
    curves = {f"c{i}": {"fpr": [0, 1], "tpr": [0, 1], "auc": 0.5} for i in range(12)}
    figure = roc_chart(curves)
    assert figure is not None
    assert_legend_outside_plot(figure, expect_legend=False)


def test_waterfall_legend_is_below_the_step_names() -> None:
    ledger = [
        {"step": "baseline", "status": "completed", "after": 0.61},
        {"step": "relabel", "status": "rejected", "gated": True, "before": 0.61, "after": 0.61, "candidate": 0.6,
         "gain": -0.01, "ci": [-0.04, 0.02]},
        {"step": "search", "status": "kept", "gated": True, "before": 0.61, "after": 0.70, "gain": 0.09},
        {"step": "train", "status": "completed", "before": 0.70, "after": 0.68, "gain": -0.02},
    ]  # fmt: skip
    figure = waterfall(ledger, "macro F1")
    assert figure is not None
    boxes = assert_legend_outside_plot(figure, expect_legend=True)
    assert len(boxes) == 8  # first score, raised, lowered, rejected: each a swatch and a label
    svg = parse(figure)
    step_names = [float(t.get("y")) for t in svg.iter("{http://www.w3.org/2000/svg}text") if t.text == "completed"]
    assert min(b[1] for b in boxes) > max(step_names)


def test_reliability_diagram_draws_no_legend_over_its_bars() -> None:
    bins = [
        {"lo": i / 10, "hi": (i + 1) / 10, "count": 5, "accuracy": 0.9, "confidence": i / 10 + 0.05} for i in range(10)
    ]
    figure = reliability_diagram(bins, 0.05)
    assert figure is not None
    assert_legend_outside_plot(figure, expect_legend=False)
