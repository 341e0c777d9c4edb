"""Classification metrics: one JSON-able dict for the ledger, the report and metrics.json.

Every confusion-based number is computed from (batched) confusion matrices in numpy, so the
bootstrap here and the paired bootstrap in ``significance.py`` score thousands of resamples in one
vectorized pass. scikit-learn is the reference in the tests, not part of the hot path.
Conventions match scikit-learn with ``labels=range(k)`` and ``zero_division=0``: a class that is
never predicted (or never present) scores 0 and still counts in macro averages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ratchet.evaluation.metric_names import (  # noqa: F401 - re-exported
    CONFUSION_METRICS,
    METRICS,
    MULTILABEL_ONLY,
    check_metric,
)

_CHUNK_ELEMENTS = 1 << 22  # index entries per bootstrap chunk: bounds memory (~16 MiB int32) at any n


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 counts, rows = true label, columns = predicted label."""
    codes = np.asarray(y_true, dtype=np.int64) * k + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(codes, minlength=k * k).reshape(k, k)


def bootstrap_indices(n: int, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Yield (b, n) row-index chunks, n_bootstrap rows in all, drawn with replacement.

    Chunked so 2000 resamples of a large validation set never materialize at once; the same
    seed always gives the same resamples.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_bootstrap, per_chunk):
        yield rng.integers(0, n, size=(min(per_chunk, n_bootstrap - start), n), dtype=np.int32)


def stratified_bootstrap_indices(strata: np.ndarray, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Like ``bootstrap_indices``, but each resample draws every stratum's rows from that stratum alone.

    With the true labels as strata every resample keeps the class counts of the rows: macro-F1 then
    varies with which rows were drawn, not with how many of a rare class happened to be drawn.
    """
    strata = np.asarray(strata)
    members = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    n = len(strata)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_bootstrap, per_chunk):
        b = min(per_chunk, n_bootstrap - start)
        parts = [rows[rng.integers(0, len(rows), size=(b, len(rows)))] for rows in members]
        yield np.concatenate(parts, axis=1).astype(np.int32)


def resampled_confusions(codes: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """(b, k, k) confusion matrices of the resamples idx (b, n), given codes = true * k + pred.

    One bincount over resample_id * k * k + code replaces a Python loop over resamples.
    """
    b = idx.shape[0]
    flat = codes[idx] + (np.arange(b, dtype=np.int64) * (k * k))[:, None]
    return np.bincount(flat.ravel(), minlength=b * k * k).reshape(b, k, k)


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's zero_division=0), no warnings."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """precision, recall, f1, support per class from confusion matrices (..., k, k)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    return {
        "precision": safe_div(tp, predicted),
        "recall": safe_div(tp, support),
        "f1": safe_div(2 * tp, support + predicted),  # = 2tp / (2tp + fp + fn)
        "support": support,
    }


def confusion_score(metric: str, cm: np.ndarray) -> np.ndarray:
    """A CONFUSION_METRICS value for each confusion matrix in cm (..., k, k)."""
    if metric == "accuracy":
        return safe_div(np.trace(cm, axis1=-2, axis2=-1), cm.sum(axis=(-2, -1)))
    scores = per_class_scores(cm)
    if metric == "macro_f1":
        return scores["f1"].mean(axis=-1)
    if metric == "weighted_f1":
        return safe_div((scores["f1"] * scores["support"]).sum(axis=-1), scores["support"].sum(axis=-1))
    raise ValueError(f"{metric!r} is not a confusion-matrix metric ({', '.join(CONFUSION_METRICS)})")


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Macro F1 over all k classes (zero_division=0): the fast version for loops."""
    return float(confusion_score("macro_f1", confusion_matrix(y_true, y_pred, k)))


def row_log_loss(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy, probabilities clipped like scikit-learn (eps of the input dtype)."""
    probs = np.asarray(probs)
    eps = np.finfo(probs.dtype if np.issubdtype(probs.dtype, np.floating) else np.float64).eps
    p_true = probs[np.arange(len(probs)), np.asarray(y_true, dtype=np.int64)].astype(np.float64)
    return -np.log(np.clip(p_true, eps, 1 - eps))


def score(metric_name: str, y_true: np.ndarray, probs: np.ndarray) -> float:
    """One metric where higher is better; log loss is returned negated (``neg_log_loss``).

    ``"log_loss"`` is accepted as an alias of ``"neg_log_loss"`` and is negated too.
    """
    metric = check_metric(metric_name)
    if np.ndim(y_true) == 2:  # a multi-label task's 0/1 matrix
        from ratchet.evaluation.multilabel_metrics import multilabel_score, row_binary_log_loss

        if metric == "neg_log_loss":
            return -float(row_binary_log_loss(y_true, probs).mean())
        return multilabel_score(metric, y_true, probs)
    if metric in MULTILABEL_ONLY:
        raise ValueError(f"{metric!r} is a multi-label metric; this task has one label per row")
    y_true, probs = _validate(y_true, probs)
    if metric == "neg_log_loss":
        return -float(row_log_loss(y_true, probs).mean())
    cm = confusion_matrix(y_true, probs.argmax(axis=1), probs.shape[1])
    return float(confusion_score(metric, cm))


def _validate(y_true: Any, probs: Any, labels: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shape and range checks: these are programming errors inside ratchet, hence ValueError."""
    y_true = np.asarray(y_true)
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, k>=2), got {probs.shape}")
    if y_true.ndim != 1 or len(y_true) != len(probs) or len(y_true) == 0:
        raise ValueError(f"y_true must be 1-D with len(probs)={len(probs)} > 0 rows, got {y_true.shape}")
    if not np.issubdtype(y_true.dtype, np.integer):
        raise ValueError(f"y_true must hold integer label ids, got dtype {y_true.dtype}")
    k = probs.shape[1]
    if y_true.min() < 0 or y_true.max() >= k:
        raise ValueError(f"y_true ids must lie in [0, {k}), got [{y_true.min()}, {y_true.max()}]")
    if labels is not None and len(labels) != k:
        raise ValueError(f"{len(labels)} labels for {k} probability columns")
    return y_true.astype(np.int64), probs


def bootstrap_ci(
    y_true: np.ndarray, y_pred: np.ndarray, k: int, *, n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95% percentile-bootstrap intervals over rows for accuracy and macro F1."""
    codes = np.asarray(y_true, dtype=np.int64) * k + np.asarray(y_pred, dtype=np.int64)
    acc, f1 = [], []
    for idx in bootstrap_indices(len(codes), n_bootstrap, seed):
        cm = resampled_confusions(codes, idx, k)
        acc.append(confusion_score("accuracy", cm))
        f1.append(confusion_score("macro_f1", cm))
    return {
        name: [float(v) for v in np.percentile(np.concatenate(samples), [2.5, 97.5])]
        for name, samples in (("accuracy", acc), ("macro_f1", f1))
    }


def classification_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    y_pred: np.ndarray | None = None,
) -> dict[str, Any]:
    """Everything the ledger, metrics.json and the report show, as plain JSON-able values.

    Predictions are ``y_pred`` (a model's decisions, class biases included), else argmax(probs); the
    probability metrics (log loss, ECE, ROC) read ``probs``. ``n_bootstrap=0`` skips the intervals.
    """
    y_true, probs = _validate(y_true, probs, labels)
    k = probs.shape[1]
    y_pred = probs.argmax(axis=1) if y_pred is None else np.asarray(y_pred, dtype=np.int64)
    cm = confusion_matrix(y_true, y_pred, k)
    per = per_class_scores(cm)
    support = per["support"]
    tp, n = int(np.trace(cm)), len(y_true)
    out: dict[str, Any] = {"n": n, "labels": [str(label) for label in labels], "accuracy": tp / n}
    for name in ("precision", "recall", "f1"):
        out[f"macro_{name}"] = float(per[name].mean())
        out[f"weighted_{name}"] = float((per[name] * support).sum() / support.sum())
    # single-label, all k labels counted: micro P = R = F1 = accuracy, but compute it the long way
    micro_p = float(safe_div(tp, cm.sum(axis=0).sum()))
    micro_r = float(safe_div(tp, support.sum()))
    out.update(micro_precision=micro_p, micro_recall=micro_r, micro_f1=float(safe_div(2 * tp, 2 * n)))
    out["per_class"] = {
        str(label): {
            "precision": float(per["precision"][c]),
            "recall": float(per["recall"][c]),
            "f1": float(per["f1"][c]),
            "support": int(support[c]),
        }
        for c, label in enumerate(labels)
    }
    out["confusion_matrix"] = cm.tolist()
    from ratchet.evaluation.curves import calibration, roc_auc_ovr, roc_curve  # curves reads safe_div from here

    out["roc_auc_ovr"] = roc_auc_ovr(y_true, probs)
    out["log_loss"] = float(row_log_loss(y_true, probs).mean())
    out["ece"], out["reliability"] = calibration(y_true, probs)
    out["roc_curves"] = {str(label): roc_curve(probs[:, c], y_true == c) for c, label in enumerate(labels)}
    out["ci"] = bootstrap_ci(y_true, y_pred, k, n_bootstrap=n_bootstrap, seed=seed) if n_bootstrap else None
    return out


def format_table(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows for the CLI: headline numbers with their 95% CI, then F1 per class."""
    if metrics.get("task") == "multilabel":
        from ratchet.evaluation.multilabel_metrics import format_rows

        return format_rows(metrics)
    ci = metrics.get("ci") or {}

    def with_ci(key: str) -> str:
        value = f"{metrics[key]:.4f}"
        if key in ci:
            value += f"  (95% CI {ci[key][0]:.4f}-{ci[key][1]:.4f})"
        return value

    auc = metrics.get("roc_auc_ovr")
    rows = [
        ("rows", str(metrics["n"])),
        ("accuracy", with_ci("accuracy")),
        ("macro F1", with_ci("macro_f1")),
        ("weighted F1", with_ci("weighted_f1")),
        ("macro precision", with_ci("macro_precision")),
        ("macro recall", with_ci("macro_recall")),
        ("ROC AUC (one-vs-rest)", "n/a (a class is missing)" if auc is None else f"{auc:.4f}"),
        ("log loss", f"{metrics['log_loss']:.4f}"),
        ("ECE (15 bins)", f"{metrics['ece']:.4f}"),
    ]
    for label, cls in metrics.get("per_class", {}).items():
        rows.append((f"F1 {label}", f"{cls['f1']:.4f}  (support {cls['support']})"))
    return rows
