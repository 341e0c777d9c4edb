"""Report sections about the data: the data report, the error analysis and the per-step details.

``data_report.json`` grows as analyses are added, so known sections get a
tailored view and every other key is rendered generically: nothing is lost and
nothing new breaks the report.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ratchet.reporting.html import Safe, join, key_values, note, num, plain, section, table, tag
from ratchet.reporting.rundata import RunFiles, label_issues, validation_predictions
from ratchet.reporting.svg import column_chart, hbar_chart

TEXT_CHARS = 280
"""Snippet length for texts in tables: enough to judge a mistake, short enough to scan."""
MAX_ROWS = 20
CLEANING = (
    ("rows", "rows"),
    ("repairs", "repaired"),
    ("duplicates", "duplicates"),
    ("conflicts", "label conflicts"),
    ("test_overlap_removed", "removed as copies of test texts"),
)
HANDLED = {"version", "classes", "lengths", "columns", "warnings", "splits", *(k for k, _ in CLEANING)}


def snippet(text: Any) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def generic(value: Any, depth: int = 0) -> Safe:
    """Any JSON value as nested tables and lists (depth-limited)."""
    if _is_scalar(value):
        return tag("span", plain(value))
    if depth >= 3:
        return tag("code", snippet(str(value)))
    if isinstance(value, dict):
        scalars = [(k, v) for k, v in value.items() if _is_scalar(v)]
        nested = [(k, v) for k, v in value.items() if not _is_scalar(v)]
        return join(
            [key_values(scalars) if scalars else None]
            + [
                tag("div", tag("h4", str(k).replace("_", " ")), generic(v, depth + 1), class_="nested")
                for k, v in nested
            ]
        )
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            keys = list(dict.fromkeys(k for row in value[:50] for k in row))
            rows = [
                [plain(row.get(k)) if _is_scalar(row.get(k)) else snippet(row.get(k)) for k in keys]
                for row in value[:50]
            ]
            return table(keys, rows)
        if all(_is_scalar(v) for v in value):
            shown = ", ".join(str(plain(v)) for v in value[:200])
            return tag("p", snippet(shown) if len(value) <= 200 else f"{snippet(shown)} (+{len(value) - 200} more)")
        return tag("ul", *(tag("li", generic(v, depth + 1)) for v in value[:50]))
    return tag("span", snippet(str(value)))


def find_histograms(value: Any, path: str = "") -> list[tuple[str, list[Any], list[float]]]:
    """(name, bin names, counts) for every {"counts": [...], "edges"|"bins": [...]} found in the report."""
    found = []
    if isinstance(value, dict):
        counts = value.get("counts")
        edges = value.get("edges", value.get("bins"))
        if isinstance(counts, list) and isinstance(edges, list) and all(isinstance(c, (int, float)) for c in counts):
            if len(edges) == len(counts) + 1:
                names = [f"{plain(lo)}-{plain(hi)}" for lo, hi in itertools.pairwise(edges)]
                found.append((path or "histogram", names, counts))
            elif len(edges) == len(counts):
                found.append((path or "histogram", [str(e) for e in edges], counts))
        for key, item in value.items():
            found += find_histograms(item, f"{path} {key}".strip())
    return found


def data_section(run: RunFiles) -> Safe | None:
    report = run.data_report
    if not report:
        return None
    parts: list[Any] = []
    warnings = report.get("warnings")
    if isinstance(warnings, list) and warnings:
        parts.append(tag("ul", *(tag("li", w) for w in warnings), class_="warnings"))
    rows = []
    for key, title in CLEANING:
        block = report.get(key)
        if isinstance(block, dict):
            items = [(name, v) for name, v in block.items() if _is_scalar(v)]
            rows += [
                [tag("b", title) if i == 0 else "", name.replace("_", " "), plain(v)]
                for i, (name, v) in enumerate(items)
            ]
    if rows:
        parts.append(tag("h3", "What cleaning changed"))
        parts.append(table(["", "", "rows"], rows, numeric=[2], id="data-cleaning", class_="grouped"))
    classes = report.get("classes")
    if isinstance(classes, dict) and isinstance(classes.get("counts"), dict) and classes["counts"]:
        counts = classes["counts"]
        parts.append(tag("h3", "Class balance"))
        names = [str(k) for k in counts]
        values = [float(v) if isinstance(v, (int, float)) else 0.0 for v in counts.values()]
        chart = hbar_chart(names, values, title="rows per class after cleaning", value_label="rows", id="class-balance")
        imbalance = classes.get("imbalance")
        parts.append(chart)
        if imbalance:
            parts.append(note(f"Largest class / smallest class: {plain(imbalance)}x."))
    splits = report.get("splits")
    if isinstance(splits, dict) and splits:
        parts.append(tag("h3", "Splits"))
        parts.append(generic(splits))
    lengths = report.get("lengths")
    if isinstance(lengths, dict):
        stats = {k: v for k, v in lengths.items() if isinstance(v, dict) and "median" in v}
        if stats:
            keys = ["min", "mean", "median", "p95", "max"]
            parts.append(tag("h3", "Lengths"))
            rows = [[name.replace("_", " "), *(plain(s.get(k)) for k in keys)] for name, s in stats.items()]
            parts.append(table(["measure", *keys], rows, numeric=[1, 2, 3, 4, 5], id="data-lengths"))
    found = find_histograms(report)
    histograms = [
        column_chart(names, counts, title=name.replace("_", " "), x_label=name.replace("_", " "), y_label="rows")
        for name, names, counts in found[:6]
    ]
    if histograms:
        parts.append(tag("div", *histograms, class_="charts"))
    columns = report.get("columns")
    if isinstance(columns, dict):
        parts.append(tag("h3", "Columns"))
        parts.append(generic(columns))
    drawn = {name for name, _, _ in found}
    others = {k: v for k, v in report.items() if k not in HANDLED and k not in drawn}
    for key, value in others.items():
        parts.append(tag("h3", key.replace("_", " ")))
        parts.append(generic(value))
    return section("data", "Data", *parts, intro="What was read, what cleaning changed, and how the data was split.")


def errors_section(run: RunFiles) -> Safe | None:
    parts: list[Any] = []
    loaded = validation_predictions(run)
    if loaded is not None:
        frame, source = loaded
        labels = run.labels
        wrong = frame[frame["label_id"] != frame["pred_id"]].sort_values("confidence", ascending=False)
        accuracy = float(np.mean(frame["label_id"] == frame["pred_id"])) if len(frame) else 0.0
        parts.append(tag("h3", "Most confident mistakes on validation"))
        parts.append(
            note(
                f"Predictions of {source} on {len(frame):,} validation rows: {len(wrong):,} mistakes "
                f"(accuracy {accuracy:.4f}). The most confident mistakes are often label errors."
            )
        )
        rows = [
            [
                num(r.confidence, 3),
                labels[int(r.label_id)],
                labels[int(r.pred_id)],
                num(r.p_true, 3),
                tag("span", snippet(r.text), class_="text"),
            ]
            for r in wrong.head(MAX_ROWS).itertuples()
        ]
        if rows:
            headers = ["confidence", "label", "predicted", "P(label)", "text"]
            parts.append(table(headers, rows, numeric=[0, 3], id="confident-mistakes", class_="texts"))
    issues = label_issues(run)
    if issues is not None and len(issues):
        parts.append(tag("h3", "Label issues flagged in training data"))
        columns = _issue_columns(list(issues.columns))
        parts.append(
            note(f"{len(issues):,} rows flagged (data/label_issues.csv); the first {min(len(issues), MAX_ROWS)}:")
        )
        rows = [
            [
                tag("span", snippet(v), class_="text") if c in _TEXT_COLS else plain(_scalar(v))
                for c, v in zip(columns, r, strict=True)
            ]
            for r in issues[columns].head(MAX_ROWS).itertuples(index=False)
        ]
        parts.append(table(columns, rows, id="label-issues", class_="texts"))
    if not parts:
        return None
    return section("errors", "Error analysis", *parts, intro="Texts are shown as plain text, shortened.")


_TEXT_COLS = ("text", "text_pair", "review", "content", "sentence")
_PREFERRED = ("given_label", "label", "suggested_label", "predicted_label", "label_quality", "quality", "score")


def _issue_columns(columns: list[str]) -> list[str]:
    """The informative columns of label_issues.csv first, text last; at most 7."""
    chosen = [c for c in _PREFERRED if c in columns]
    chosen += [c for c in columns if c not in chosen and c not in _TEXT_COLS and c != "accept"]
    chosen = chosen[:6]
    text = [c for c in _TEXT_COLS if c in columns][:1]
    return chosen + text


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN from an empty CSV cell
        return ""
    return value


SHOWN_ELSEWHERE = {"history", "telemetry", "train_params", "trials", "importances", "param_importances"}


def steps_section(run: RunFiles) -> Safe | None:
    """Every step's own scalar metrics, collapsed: the details behind the ledger."""
    blocks = []
    for folder, manifest in run.manifests:
        if manifest.get("step") == "report":
            continue  # the report describes itself while it is still running
        metrics = manifest.get("metrics") or {}
        flat: list[tuple[str, Any]] = [("status", manifest.get("status")), ("seconds", num(manifest.get("seconds"), 1))]
        for key, value in metrics.items():
            if key in SHOWN_ELSEWHERE:
                continue
            if _is_scalar(value):
                flat.append((key, value))
            elif isinstance(value, dict):
                flat += [(f"{key}.{k}", v) for k, v in value.items() if _is_scalar(v)]
        if manifest.get("error"):
            flat.append(("error", manifest["error"]))
        blocks.append(
            tag("details", tag("summary", folder.name, " ", tag("small", manifest.get("status", ""))), key_values(flat))
        )
    if not blocks:
        return None
    return section("steps", "Step details", *blocks, intro="Each step's manifest metrics (RUN/steps/NN-name/).")
