"""Which unlabeled texts get a pseudo-label: confident ones, class by class, never more than the gold allows.

Self-training (the teacher labels unlabeled text, a student learns from gold + pseudo-labels)
goes wrong in two known ways: a confident teacher floods the student with one class, and a
mass of pseudo-labels drowns the gold ones. The choice here guards against both: each class
gets at most ``max_ratio`` times its own number of gold training rows, the most confident
texts first, and only texts the teacher gives at least ``threshold`` probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class PseudoLabels:
    rows: np.ndarray
    """Indices into the labeled-by-teacher texts, most confident first within each class."""
    label_ids: np.ndarray
    confidence: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)


def choose_pseudo_labels(
    probs: np.ndarray, gold_label_ids: np.ndarray, *, threshold: float, max_ratio: float
) -> PseudoLabels:
    """Confident teacher predictions, capped per class at ``max_ratio`` x that class's gold rows."""
    probs = np.asarray(probs, dtype=np.float64)
    n_labels = probs.shape[1]
    guess, confidence = probs.argmax(axis=1), probs.max(axis=1)
    gold = np.bincount(np.asarray(gold_label_ids, dtype=np.int64), minlength=n_labels)
    chosen: list[np.ndarray] = []
    per_class: dict[int, dict[str, int]] = {}
    for label in range(n_labels):
        confident = np.flatnonzero((guess == label) & (confidence >= threshold))
        cap = int(max_ratio * gold[label])
        # Stable sort: ties keep corpus order, so the choice is the same on every run.
        ordered = confident[np.argsort(-confidence[confident], kind="stable")]
        chosen.append(ordered[:cap])
        per_class[label] = {"confident": len(confident), "cap": cap, "chosen": int(min(cap, len(confident)))}
    rows = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    stats = {
        "labeled_by_teacher": len(probs),
        "above_threshold": int((confidence >= threshold).sum()),
        "chosen": len(rows),
        "per_class": per_class,
        "mean_confidence_chosen": float(confidence[rows].mean()) if len(rows) else None,
    }
    return PseudoLabels(rows.astype(np.int64), guess[rows].astype(np.int64), confidence[rows], stats)
