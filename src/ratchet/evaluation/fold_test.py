"""The fold-level test beside the paired bootstrap: Nadeau and Bengio's corrected resampled t-test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from ratchet.evaluation.metrics import score


@dataclass(frozen=True)
class CorrectedTTest:
    fold_gains: list[float]
    t_stat: float
    p_value: float
    """One-sided: the probability of a mean fold gain this large if the candidate were no better."""


def corrected_t_test(fold_gains: list[float], held_out_share: float) -> CorrectedTTest | None:
    """Nadeau and Bengio's corrected resampled t-test on k fold gains (None with fewer than 2 folds).

    Fold gains are not independent (the folds' training parts overlap), so the variance of their
    mean is inflated by n_test / n_train on top of the 1/k of independent samples; with k-fold
    cross-fitting n_test / n_train = held_out_share / (1 - held_out_share) = 1 / (k - 1).
    """
    gains = np.asarray(fold_gains, dtype=np.float64)
    k = len(gains)
    if k < 2:
        return None
    variance = float(gains.var(ddof=1))
    mean = float(gains.mean())
    scale = (1.0 / k + held_out_share / (1.0 - held_out_share)) * variance
    # Every fold gaining exactly the same (scale 0) is infinitely sure of its sign, or of nothing.
    flat = float(np.sign(mean) * np.inf) if mean else 0.0
    t_stat = mean / float(np.sqrt(scale)) if scale > 0 else flat
    p_value = float(student_t.sf(t_stat, df=k - 1))
    return CorrectedTTest([float(g) for g in gains], float(t_stat), p_value)


def fold_gains(
    y_true: np.ndarray, incumbent: np.ndarray, candidate: np.ndarray, folds: np.ndarray, metric: str
) -> list[float]:
    """metric(candidate) - metric(incumbent) within each fold's rows, in fold order."""
    out = []
    for fold in np.unique(folds):
        rows = folds == fold
        out.append(float(score(metric, y_true[rows], candidate[rows]) - score(metric, y_true[rows], incumbent[rows])))
    return out
