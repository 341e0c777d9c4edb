"""ROC AUC and curves (one-vs-rest) and the calibration error with its reliability bins."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from ratchet.evaluation.metrics import safe_div

N_BINS = 15  # ECE bins, the usual choice (Guo et al. 2017)
_MAX_CURVE_POINTS = 50  # ROC points kept per class: enough for a plot, small in JSON


def _auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC via the Mann-Whitney rank sum (ties averaged, as the trapezoid rule does)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None  # undefined: scikit-learn warns and returns nan
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_ovr(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """Macro one-vs-rest ROC AUC; binary uses column 1 like scikit-learn; None when undefined."""
    k = probs.shape[1]
    if k == 2:
        return _auc(probs[:, 1], y_true == 1)
    aucs = [_auc(probs[:, c], y_true == c) for c in range(k)]
    return None if any(a is None for a in aucs) else float(np.mean(aucs))


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> dict[str, Any] | None:
    """fpr/tpr at every distinct threshold, downsampled to <= _MAX_CURVE_POINTS for plotting."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, pos = scores[order], positive[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(pos)[last_of_threshold]
    fps = last_of_threshold + 1 - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    if len(fpr) > _MAX_CURVE_POINTS:  # even spacing over thresholds keeps both endpoints
        keep = np.unique(np.round(np.linspace(0, len(fpr) - 1, _MAX_CURVE_POINTS)).astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": np.round(fpr, 5).tolist(), "tpr": np.round(tpr, 5).tolist(), "auc": _auc(scores, positive)}


def calibration(y_true: np.ndarray, probs: np.ndarray) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error on the max probability, 15 equal-width bins (lo, hi].

    Returns (ece, bins); each bin has lo, hi, count, confidence and accuracy (None when empty).
    """
    conf = probs.max(axis=1).astype(np.float64)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    bin_of = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, N_BINS - 1)
    count = np.bincount(bin_of, minlength=N_BINS)
    conf_mean = safe_div(np.bincount(bin_of, weights=conf, minlength=N_BINS), count)
    acc = safe_div(np.bincount(bin_of, weights=correct, minlength=N_BINS), count)
    ece = float((count / len(conf) * np.abs(acc - conf_mean)).sum())
    bins = [
        {
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "count": int(count[b]),
            "confidence": float(conf_mean[b]) if count[b] else None,
            "accuracy": float(acc[b]) if count[b] else None,
        }
        for b in range(N_BINS)
    ]
    return ece, bins
