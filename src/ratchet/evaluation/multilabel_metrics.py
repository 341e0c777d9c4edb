"""Multi-label metrics: micro/macro/samples F1, subset accuracy, Hamming loss, per-label scores, intervals.

Truth is an (n, labels) 0/1 matrix; a label is predicted where its probability reaches
``THRESHOLD`` (a model's tuned per-label thresholds are folded into its decision scores by
``Decision``, so a decision at 0.5 on those scores is the tuned decision). Every metric is a
function of per-row, per-label true/false positive and false negative counts, so a bootstrap
resample's value is a weighted sum over rows: one matrix product per chunk of resamples.
Conventions match scikit-learn with ``zero_division=0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ratchet.evaluation.metrics import bootstrap_indices

THRESHOLD = 0.5
MULTILABEL_METRICS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "neg_hamming_loss")
"""Gate metrics a multi-label run accepts (higher is better; Hamming loss is negated)."""
_ALIASES = {"accuracy": "subset_accuracy", "hamming_loss": "neg_hamming_loss"}


def canonical_metric(name: str) -> str:
    return _ALIASES.get(name, name)


def decisions(probs: np.ndarray) -> np.ndarray:
    return (np.asarray(probs) >= THRESHOLD).astype(np.int64)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


class RowCounts:
    """Per-row, per-label tp/fp/fn of hard decisions, and the per-row values the averaged metrics need."""

    def __init__(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        y, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
        self.tp = (y & p).astype(np.float64)
        self.fp = (~y & p).astype(np.float64)
        self.fn = (y & ~p).astype(np.float64)
        row_tp, row_err = self.tp.sum(1), (self.fp + self.fn).sum(1)
        self.row_f1 = _div(2 * row_tp, 2 * row_tp + row_err)
        self.row_exact = (row_err == 0).astype(np.float64)
        self.row_hamming = row_err / max(y.shape[1], 1)

    def value(self, metric: str, weights: np.ndarray | None = None) -> np.ndarray:
        """``metric`` for each row weighting (b, n) (counts of each row in a resample), or all rows once."""
        w = np.ones((1, len(self.tp))) if weights is None else weights
        metric = canonical_metric(metric)
        if metric in ("samples_f1", "subset_accuracy", "neg_hamming_loss"):
            row = {"samples_f1": self.row_f1, "subset_accuracy": self.row_exact, "neg_hamming_loss": -self.row_hamming}
            return (w @ row[metric]) / w.sum(axis=1)
        tp, fp, fn = w @ self.tp, w @ self.fp, w @ self.fn  # (b, labels)
        if metric == "micro_f1":
            return _div(2 * tp.sum(1), (2 * tp + fp + fn).sum(1))
        if metric == "macro_f1":
            return _div(2 * tp, 2 * tp + fp + fn).mean(axis=1)
        raise ValueError(f"{metric!r} is not a multi-label metric ({', '.join(MULTILABEL_METRICS)})")


def multilabel_score(metric: str, y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(RowCounts(y_true, decisions(probs)).value(metric)[0])


def row_binary_log_loss(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-row binary cross-entropy, averaged over labels (what the sigmoid head is trained on)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y_true, dtype=np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)


def resample_weights(idx: np.ndarray, n: int) -> np.ndarray:
    """(b, n) counts of each row in each resample of ``idx`` (b, n)."""
    b = idx.shape[0]
    flat = idx.astype(np.int64) + (np.arange(b, dtype=np.int64) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def paired_resamples(
    y_true: np.ndarray, probs_a: np.ndarray, probs_b: np.ndarray, metric: str
) -> tuple[tuple[float, float], Any]:
    """(full scores of A and B, resample(idx) -> (a, b) arrays): what the paired bootstrap needs."""
    if canonical_metric(metric) == "neg_log_loss":
        loss_a, loss_b = row_binary_log_loss(y_true, probs_a), row_binary_log_loss(y_true, probs_b)

        def resample_loss(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return -loss_a[idx].mean(axis=1), -loss_b[idx].mean(axis=1)

        return (-float(loss_a.mean()), -float(loss_b.mean())), resample_loss
    counts_a, counts_b = RowCounts(y_true, decisions(probs_a)), RowCounts(y_true, decisions(probs_b))
    full = (float(counts_a.value(metric)[0]), float(counts_b.value(metric)[0]))

    def resample(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = resample_weights(idx, len(y_true))
        return counts_a.value(metric, w), counts_b.value(metric, w)

    return full, resample


def multilabel_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    y_pred: np.ndarray | None = None,
) -> dict[str, Any]:
    """Everything metrics.json and the report show for a multi-label model, JSON-able.

    Decisions are ``y_pred`` (a model's label sets, its tuned thresholds applied), else ``probs`` >= 0.5;
    log loss reads ``probs``. Intervals: 95% percentile bootstrap over rows.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    pred = decisions(probs) if y_pred is None else np.asarray(y_pred, dtype=np.int64)
    counts = RowCounts(y_true, pred)
    out: dict[str, Any] = {"n": len(y_true), "task": "multilabel", "labels": [str(label) for label in labels]}
    for metric in MULTILABEL_METRICS:
        out[metric] = float(counts.value(metric)[0])
    out["hamming_loss"] = -out.pop("neg_hamming_loss") + 0.0  # + 0.0: no "-0.0000" for a perfect model
    out["log_loss"] = float(row_binary_log_loss(y_true, probs).mean())
    tp, fp, fn = counts.tp.sum(0), counts.fp.sum(0), counts.fn.sum(0)
    out["micro_precision"] = float(_div(tp.sum(), tp.sum() + fp.sum()))
    out["micro_recall"] = float(_div(tp.sum(), tp.sum() + fn.sum()))
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    out["macro_precision"], out["macro_recall"] = float(precision.mean()), float(recall.mean())
    out["label_cardinality"] = {"true": float(y_true.sum(1).mean()), "predicted": float(pred.sum(1).mean())}
    intervals = _per_label_intervals(counts, n_bootstrap, seed) if n_bootstrap else None
    out["per_label"] = {
        str(label): {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(_div(2 * tp[j], 2 * tp[j] + fp[j] + fn[j])),
            "support": int(y_true[:, j].sum()),
            "predicted": int(pred[:, j].sum()),
            **({} if intervals is None else {"ci": {k: v[j] for k, v in intervals.items()}}),
        }
        for j, label in enumerate(labels)
    }
    out["ci"] = _headline_intervals(counts, n_bootstrap, seed) if n_bootstrap else None
    return out


def _draws(counts: RowCounts, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    for idx in bootstrap_indices(len(counts.tp), n_bootstrap, seed):
        yield resample_weights(idx, len(counts.tp))


def _headline_intervals(counts: RowCounts, n_bootstrap: int, seed: int) -> dict[str, list[float]]:
    samples: dict[str, list[np.ndarray]] = {m: [] for m in MULTILABEL_METRICS}
    for w in _draws(counts, n_bootstrap, seed):
        for metric in MULTILABEL_METRICS:
            samples[metric].append(counts.value(metric, w))
    out = {m: [float(v) for v in np.percentile(np.concatenate(s), [2.5, 97.5])] for m, s in samples.items()}
    low, high = out.pop("neg_hamming_loss")
    out["hamming_loss"] = [-high + 0.0, -low + 0.0]
    return out


def _per_label_intervals(counts: RowCounts, n_bootstrap: int, seed: int) -> dict[str, list[list[float]]]:
    """95% intervals of each label's precision and recall (``[low, high]`` per label)."""
    precision, recall = [], []
    for w in _draws(counts, n_bootstrap, seed):
        tp, fp, fn = w @ counts.tp, w @ counts.fp, w @ counts.fn
        precision.append(_div(tp, tp + fp))
        recall.append(_div(tp, tp + fn))

    def bounds(parts: list[np.ndarray]) -> list[list[float]]:
        low, high = np.percentile(np.concatenate(parts), [2.5, 97.5], axis=0)
        return [[float(a), float(b)] for a, b in zip(low, high, strict=True)]

    return {"precision": bounds(precision), "recall": bounds(recall)}


def format_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows for the CLI summary of a multi-label evaluation."""
    ci = metrics.get("ci") or {}

    def with_ci(key: str) -> str:
        value = f"{metrics[key]:.4f}"
        if key in ci:
            value += f"  (95% CI {ci[key][0]:.4f}-{ci[key][1]:.4f})"
        return value

    rows = [("rows", str(metrics["n"]))]
    rows += [(name.replace("_", " "), with_ci(name)) for name in
             ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")]  # fmt: skip
    for label, per in metrics.get("per_label", {}).items():
        rows.append((f"F1 {label}", f"{per['f1']:.4f}  (P {per['precision']:.3f}, R {per['recall']:.3f}, "
                                    f"support {per['support']})"))  # fmt: skip
    return rows
