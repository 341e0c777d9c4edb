"""Label checks and the label-set section of the data report, for single- and multi-label data alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ratchet.data.multilabel import label_counts, label_matrix, label_union, parse_canonical, validate_label_sets
from ratchet.errors import RatchetError

RARE_BELOW = 10
"""A label on fewer rows than this is listed as rare: too few to learn from or to measure well."""


def validate_labels(frame: pd.DataFrame, multilabel: bool) -> None:
    """The one-line error a run would stop with: classes (single-label) or label sets (multi-label)."""
    from ratchet.data.clean import validate_classes

    if multilabel:
        validate_label_sets(frame["label"])
    else:
        validate_classes(frame)


def check_test_label_sets(test: pd.DataFrame, labels: list[Any]) -> None:
    known = {str(label) for label in labels}
    unseen = sorted({name for value in test["label"] for name in parse_canonical(value)} - known)
    if unseen:
        shown = ", ".join(unseen[:10]) + (f" and {len(unseen) - 10} more" if len(unseen) > 10 else "")
        raise RatchetError(f"test labels unseen in training: {shown}: fix the labels or add training examples")


def label_set_report(values: pd.Series) -> dict[str, Any]:
    """Cardinality (labels per row), each label's rows, the rare labels and the co-occurrence matrix."""
    values = values.dropna()
    labels = label_union(values)
    matrix = label_matrix(values, labels)
    per_row = matrix.sum(axis=1)
    counts = label_counts(values)
    co = (matrix.T @ matrix).astype(int)
    return {
        "labels": labels,
        "cardinality": round(float(per_row.mean()), 4) if len(per_row) else 0.0,
        "density": round(float(per_row.mean() / max(len(labels), 1)), 4) if len(per_row) else 0.0,
        "labels_per_row": {str(k): int(v) for k, v in zip(*np.unique(per_row, return_counts=True), strict=True)},
        "label_rows": {name: int(counts.get(name, 0)) for name in labels},
        "rare": [name for name in labels if counts.get(name, 0) < RARE_BELOW],
        "rare_below": RARE_BELOW,
        "distinct_sets": int(values.nunique()),
        "cooccurrence": co.tolist(),
    }


def summary_lines(section: dict[str, Any]) -> list[str]:
    """The lines ``inspect`` prints for a multi-label file."""
    rows = section["label_rows"]
    lines = [
        f"multi-label: {len(section['labels'])} labels, {section['cardinality']:.2f} labels per row on average, "
        f"{section['distinct_sets']} distinct label sets",
        "label rows: " + ", ".join(f"{name} {n}" for name, n in sorted(rows.items(), key=lambda kv: -kv[1])),
    ]
    if section["rare"]:
        lines.append(f"rare labels (< {section['rare_below']} rows): " + ", ".join(section["rare"]))
    pairs = _top_pairs(section)
    if pairs:
        lines.append("most frequent pairs: " + ", ".join(f"{a}+{b} {n}" for a, b, n in pairs))
    return lines


def _top_pairs(section: dict[str, Any], top: int = 5) -> list[tuple[str, str, int]]:
    labels, co = section["labels"], section["cooccurrence"]
    pairs = [(labels[i], labels[j], co[i][j]) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    return sorted((p for p in pairs if p[2] > 0), key=lambda p: -p[2])[:top]
