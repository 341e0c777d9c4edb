"""The report's sealed-test section for a multi-label run: headline metrics, per-label results, co-occurrence."""

from __future__ import annotations

from typing import Any

from ratchet.reporting.html import Safe, interval, join, num, table, tag
from ratchet.reporting.rundata import RunFiles

HEADLINE = (
    ("micro_f1", "micro F1"),
    ("macro_f1", "macro F1"),
    ("samples_f1", "samples F1"),
    ("subset_accuracy", "subset accuracy (exact label set)"),
    ("hamming_loss", "Hamming loss (lower is better)"),
    ("log_loss", "binary log loss"),
)


def is_multilabel(run: RunFiles) -> bool:
    return run.test.get("task") == "multilabel" or run.data_report.get("task") == "multilabel"


def multilabel_test_section(run: RunFiles) -> Safe | None:
    test = run.test
    parts: list[Any] = []
    if test:
        ci = test.get("ci") or {}
        rows = [["rows", num(test.get("n")), ""]]
        rows += [[label, num(test.get(key)), interval(ci.get(key))] for key, label in HEADLINE if key in test]
        parts.append(table(["metric", "value", "95% bootstrap CI"], rows, numeric=[1, 2], id="test-metrics",
                           class_="metrics"))  # fmt: skip
        cardinality = test.get("label_cardinality") or {}
        if cardinality:
            parts.append(tag("p", f"labels per row: {num(cardinality.get('true'), 2)} true, "
                                  f"{num(cardinality.get('predicted'), 2)} predicted"))  # fmt: skip
        parts.append(tag("h3", "Per label"))
        parts.append(_per_label_table(test.get("per_label") or {}))
    section = run.data_report.get("multilabel")
    if isinstance(section, dict) and section.get("labels"):
        parts.append(tag("h3", "Label co-occurrence (training data, rows holding both labels)"))
        parts.append(cooccurrence_table(section["labels"], section.get("cooccurrence") or []))
        if section.get("rare"):
            parts.append(tag("p", f"rare labels (< {section.get('rare_below')} rows): " + ", ".join(section["rare"])))
    return join(parts) if parts else None


def _per_label_table(per_label: dict[str, Any]) -> Safe:
    rows = []
    for label, scores in per_label.items():
        ci = scores.get("ci") or {}
        f1 = scores.get("f1") or 0.0
        bar = tag("span", tag("span", style=f"width:{max(0.0, min(1.0, f1)) * 100:.1f}%"), class_="bar")
        rows.append([
            label, num(scores.get("precision")), interval(ci.get("precision")), num(scores.get("recall")),
            interval(ci.get("recall")), join([bar, num(f1)]), num(scores.get("support")), num(scores.get("predicted")),
        ])  # fmt: skip
    header = ["label", "precision", "95% CI", "recall", "95% CI", "F1", "support", "predicted"]
    return table(header, rows, numeric=[1, 2, 3, 4, 5, 6, 7], id="per-label", sortable=True)


def cooccurrence_table(labels: list[str], matrix: list[list[int]]) -> Safe:
    """Rows x labels: how many rows carry both (the diagonal: rows carrying the label)."""
    rows = [[label, *(num(count) for count in matrix[i])] for i, label in enumerate(labels) if i < len(matrix)]
    return table(["label", *labels], rows, numeric=list(range(1, len(labels) + 1)), id="cooccurrence")
