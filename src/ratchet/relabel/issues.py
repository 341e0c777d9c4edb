"""Label issues from out-of-fold probabilities (cleanlab), the review file, and the three policies.

cleanlab's confident learning estimates, per class pair, how many rows carry label i
while belonging to class j, and flags that many rows, those the out-of-fold model is
most sure about. Flagged rows are ranked by label quality (the out-of-fold probability
of the given label): the lowest first, i.e. the most suspicious first.

Policies for flagged training rows: ``drop`` them, ``relabel`` them to the label the
model is confident about, or ``weight`` them down (sample weight = probability of the
given label, so a confident contradiction counts little). Rows a person reviewed
(``--label-fixes``) are never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MIN_WEIGHT = 0.05
"""Down-weighted rows keep at least this weight: a wrong flag then costs little."""


@dataclass
class LabelIssues:
    flagged: np.ndarray
    """Row indices of flagged rows, most suspicious first."""
    quality: np.ndarray
    """Per row: out-of-fold probability of the given label (cleanlab's self-confidence)."""
    suggested: np.ndarray
    """Per row: the label id the out-of-fold model finds most likely."""
    confidence: np.ndarray
    """Per row: its probability."""


def find_issues(
    labels: np.ndarray, probs: np.ndarray, *, exempt: np.ndarray | None = None, min_per_class: int = 2
) -> LabelIssues:
    """Flag rows with cleanlab's confident learning (prune by noise rate) and rank them."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    # cleanlab wants every row's probabilities to sum to 1 and no all-zero class column.
    probs = np.clip(probs, 1e-6, None)
    probs /= probs.sum(axis=1, keepdims=True)
    mask = find_label_issues(
        labels, probs, filter_by="prune_by_noise_rate", min_examples_per_class=min_per_class, n_jobs=1
    )
    if exempt is not None:
        mask &= ~exempt
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    flagged = np.flatnonzero(mask)
    flagged = flagged[np.argsort(quality[flagged], kind="stable")]
    suggested = probs.argmax(axis=1)
    return LabelIssues(flagged, quality, suggested, probs[np.arange(len(probs)), suggested])


def issues_table(train: pd.DataFrame, issues: LabelIssues, label_names: list[Any]) -> pd.DataFrame:
    """The human review file: flagged rows, most suspicious first, with an empty ``accept`` column."""
    rows = issues.flagged
    table = pd.DataFrame({"text": train["text"].to_numpy()[rows]})
    if "text_pair" in train.columns:
        table["text_pair"] = train["text_pair"].to_numpy()[rows]
    names = np.array([str(name) for name in label_names], dtype=object)
    table["given_label"] = names[train["label_id"].to_numpy()[rows]]
    table["suggested_label"] = names[issues.suggested[rows]]
    table["confidence"] = np.round(issues.confidence[rows], 4)
    table["label_quality"] = np.round(issues.quality[rows], 4)
    table["accept"] = ""
    return table


def apply_policy(
    train: pd.DataFrame, issues: LabelIssues, policy: str, label_names: list[Any]
) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
    """(cleaned frame, indices of the original rows it keeps, counts) for ``drop``/``relabel``/``weight``."""
    n = len(train)
    rows = issues.flagged
    kept = np.arange(n)
    counts = {"flagged": len(rows), "dropped": 0, "relabeled": 0, "down_weighted": 0}
    if policy == "drop":
        keep = np.ones(n, dtype=bool)
        keep[rows] = False
        # Never empty a class: its most trustworthy flagged row stays.
        for label in np.unique(train["label_id"].to_numpy()):
            members = np.flatnonzero(train["label_id"].to_numpy() == label)
            if not keep[members].any():
                keep[members[np.argmax(issues.quality[members])]] = True
        kept = np.flatnonzero(keep)
        counts["dropped"] = n - len(kept)
        return train.iloc[kept].reset_index(drop=True), kept, counts
    cleaned = train.copy()
    if policy == "relabel":
        change = rows[issues.suggested[rows] != cleaned["label_id"].to_numpy()[rows]]
        label_ids = cleaned["label_id"].to_numpy().copy()
        label_ids[change] = issues.suggested[change]
        cleaned["label_id"] = label_ids.astype(np.int64)
        labels = cleaned["label"].astype(object).to_numpy().copy()
        labels[change] = [str(label_names[i]) for i in issues.suggested[change]]
        cleaned["label"] = pd.Series(labels, index=cleaned.index, dtype=train["label"].dtype)
        counts["relabeled"] = len(change)
    elif policy == "weight":
        weights = cleaned["weight"].to_numpy(np.float32).copy() if "weight" in cleaned else np.ones(n, np.float32)
        weights[rows] *= np.clip(issues.quality[rows], MIN_WEIGHT, 1.0).astype(np.float32)
        cleaned["weight"] = weights
        counts["down_weighted"] = len(rows)
    else:
        raise ValueError(f"unknown relabel policy {policy!r}")
    return cleaned, kept, counts
