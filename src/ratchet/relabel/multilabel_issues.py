"""Label issues in label sets: cleanlab's multi-label issue finder on out-of-fold one-vs-rest probabilities.

The relabel step's multi-label path (holdout plans): out-of-fold probabilities for every
training row from the one-vs-rest TF-IDF model (folds by iterative stratification) go to
``cleanlab.filter.find_label_issues(..., multi_label=True)``, which flags rows whose given set
disagrees with what the other folds predict; flagged rows are ranked by cleanlab's multi-label
quality score (lowest first). The only policy for label sets is to drop the flagged rows: a
"relabel" would have to invent a whole set, and a down-weight has no measured benefit here yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratchet.data.frames import Split


@dataclass(frozen=True)
class SetIssues:
    flagged: np.ndarray
    """Training row positions flagged, most suspicious first."""
    quality: np.ndarray
    """cleanlab's multi-label quality score per row (lower: more likely mislabeled)."""
    oof_probs: np.ndarray
    """(rows, labels) out-of-fold probabilities the flags come from."""


def out_of_fold(train: Split, n_labels: int, folds: int, seed: int, C: float = 2.0) -> np.ndarray:
    """(rows, labels) probabilities, each row's from a one-vs-rest TF-IDF model fitted on the other folds."""
    from ratchet.data.multilabel_split import iterative_parts
    from ratchet.models.linear import LinearTextModel

    fold_of = iterative_parts(train.label_ids, [1.0] * folds, seed)
    out = np.zeros(train.label_ids.shape, dtype=np.float32)
    for fold in range(folds):
        held = np.flatnonzero(fold_of == fold)
        if not len(held):
            continue
        fit_rows = train.subset(np.flatnonzero(fold_of != fold))
        model = LinearTextModel(C=C, seed=seed).fit(fit_rows.texts, fit_rows.label_ids, n_labels, fit_rows.pairs)
        part = train.subset(held)
        out[held] = model.predict_proba(part.texts, part.pairs)
    return out


def find_set_issues(labels: np.ndarray, oof_probs: np.ndarray) -> SetIssues:
    from cleanlab.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    given = [list(np.flatnonzero(row)) for row in np.asarray(labels)]
    probs = np.clip(np.asarray(oof_probs, dtype=np.float64), 1e-6, 1 - 1e-6)
    mask = find_label_issues(given, probs, multi_label=True, filter_by="prune_by_noise_rate", n_jobs=1)
    quality = get_label_quality_scores(given, probs)
    flagged = np.flatnonzero(mask)
    return SetIssues(flagged[np.argsort(quality[flagged], kind="stable")], quality, oof_probs)
