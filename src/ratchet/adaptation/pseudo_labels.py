"""Which unlabeled texts get a pseudo-label: confident ones, class by class, never more than the gold allows.

Self-training (the teacher labels unlabeled text, a student learns from gold + pseudo-labels)
goes wrong in two known ways: a confident teacher floods the student with one class, and a
mass of pseudo-labels drowns the gold ones. The choice here guards against both: each class
gets at most ``max_ratio`` times its own number of gold training rows, the most confident
texts first, and only texts the teacher gives at least ``threshold`` probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.data.frames import Split


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


def with_pseudo_labels(train: Split, texts: list[str], label_ids: np.ndarray, weight: float) -> Split:
    """The gold training rows followed by the pseudo-labeled ``texts``, each of these weighing ``weight``."""
    gold_weights = train.weights if train.weights is not None else np.ones(len(train), dtype=np.float32)
    weights = np.concatenate([gold_weights, np.full(len(texts), weight, dtype=np.float32)])
    return Split(
        texts=train.texts + texts,
        pairs=None,
        label_ids=np.concatenate([train.label_ids, label_ids]).astype(np.int64),
        weights=None if np.all(weights == 1.0) else weights,
    )


def save_pseudo_labels(path: Path, texts: list[str], chosen: PseudoLabels, labels: list) -> None:
    """What the student learned from, for audit: text, pseudo-label and the teacher's confidence."""
    import pandas as pd

    frame = pd.DataFrame({
        "text": [texts[i] for i in chosen.rows],
        "label": [str(labels[k]) for k in chosen.label_ids],
        "confidence": chosen.confidence.astype(np.float32),
    })  # fmt: skip
    frame.to_parquet(path, index=False)
