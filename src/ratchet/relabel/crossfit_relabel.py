"""relabel under cross-fitting: each fold cleans only its own training part and is judged on its untouched fold.

For fold f the label issues are found among f's training rows alone (cleanlab on out-of-fold
probabilities computed inside that training part), so no held-out label decides which
training row goes. The cheap gate learner is then fitted twice on f's training part, as it
is and cleaned, and both predict f's held-out rows with their original labels: the rule
compares the two over every pool row. The review file and the refit's cleaning come from
the same procedure on the whole pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ratchet.crossfit.cleaning import changes
from ratchet.relabel.features import Features, tfidf_features
from ratchet.relabel.issues import LabelIssues, apply_policy, find_issues
from ratchet.relabel.oof import fit_predict, linear_oof


@dataclass
class Cleaned:
    issues: LabelIssues
    entry: dict[str, Any]
    """Pool-position changes (cleaning.changes)."""
    counts: dict[str, int]
    gate_C: float
    oof_detail: dict[str, Any]


def clean_rows(
    positions: np.ndarray,
    frame: pd.DataFrame,
    features: list[Features],
    labels: list,
    *,
    policy: str,
    folds: int,
    seed: int,
    exempt: np.ndarray | None,
) -> Cleaned:
    """Find label issues among the pool rows at ``positions`` from those rows alone; what cleaning them changes."""
    y = frame["label_id"].to_numpy()[positions]
    all_probs, detail = [], {}
    for f in features:
        probs, info = linear_oof(f.train, y, len(labels), folds=folds, seed=seed, kind=f.kind)
        all_probs.append(probs)
        detail[f"C_{f.kind}"] = info["C"]
    # Two different views of the text err on different rows: their average flags fewer false issues.
    issues = find_issues(y, np.mean(all_probs, axis=0), exempt=None if exempt is None else exempt[positions])
    part = frame.iloc[positions].reset_index(drop=True)
    cleaned, kept, counts = apply_policy(part, issues, policy, labels)
    entry = changes(positions, part, cleaned, kept)
    return Cleaned(issues, entry, counts, detail.get(f"C_{features[-1].kind}", 0.1), detail)


def fold_features(
    texts: list[str], pairs: list[str] | None, train_rows: np.ndarray, held_rows: np.ndarray,
    embeddings: np.ndarray | None,
) -> list[Features]:  # fmt: skip
    """TF-IDF fitted on the training rows only (its idf must not see the held-out texts), plus the frozen
    encoder's embeddings, which learned nothing from this data and are simply indexed."""

    def pick(values: list[str] | None, rows: np.ndarray) -> list[str] | None:
        return None if values is None else [values[i] for i in rows]

    found = [tfidf_features(pick(texts, train_rows), pick(texts, held_rows), pick(pairs, train_rows),
                            pick(pairs, held_rows))]  # fmt: skip
    if embeddings is not None:
        found.append(Features("embeddings", embeddings[train_rows], embeddings[held_rows], 0.0, {}))
    return found


def gate_probs(
    features: list[Features], cleaned: Cleaned, y_train: np.ndarray, train_rows: np.ndarray, weights: np.ndarray | None,
    n_labels: int, seed: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(reference, candidate): the cheap gate learner on the training rows as they are, and cleaned."""
    gate = features[-1]
    reference = fit_predict(gate.train, y_train, gate.valid, n_labels, C=cleaned.gate_C, weights=weights,
                            balanced=True, seed=seed)  # fmt: skip
    dropped = set(cleaned.entry["drop"])
    keep = np.array([int(r) not in dropped for r in train_rows])
    kept_rows = train_rows[keep]
    new_y = np.array([cleaned.entry["relabel"].get(str(int(r)), y) for r, y in zip(kept_rows, y_train[keep],
                                                                                    strict=True)])  # fmt: skip
    base = np.ones(len(kept_rows), np.float32) if weights is None else weights[keep]
    new_w = np.array([cleaned.entry["weight"].get(str(int(r)), w) for r, w in zip(kept_rows, base, strict=True)],
                     dtype=np.float32)  # fmt: skip
    candidate = fit_predict(gate.train[keep], new_y, gate.valid, n_labels, C=cleaned.gate_C,
                            weights=None if np.all(new_w == 1.0) else new_w, balanced=True, seed=seed)  # fmt: skip
    return reference, candidate


def timed(started: float) -> float:
    return round(time.time() - started, 2)
