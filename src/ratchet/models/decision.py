"""Probabilities that mean what they say, and decisions that fit the metric: temperature and class biases.

A model's ``prob_`` columns are calibrated by one temperature T (softmax(log p / T)), which
changes no decision. Its decisions add per-class biases b to the calibrated log-probabilities
(argmax(log p / T + b)): macro-F1 rewards recall on rare classes, which the argmax of
probabilities trained on a majority class rarely predicts. Both are fitted on judged rows
(out-of-fold, or validation) and shipped beside the model in ``decision.json``; every
predictor reads it, so ``predict`` and ``evaluate`` apply exactly what was judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.fsutil import write_json

DECISION_FILE = "decision.json"
_FLOOR = 1e-12
BIAS_GRID = np.round(np.arange(-3.0, 3.01, 0.1), 2)
"""Candidate values of one class's bias, in log-probability units."""


@dataclass(frozen=True)
class Decision:
    temperature: float = 1.0
    bias: tuple[float, ...] | None = None
    thresholds: tuple[float, ...] | None = None
    """Multi-label: a label is predicted where its probability reaches its threshold (None: 0.5 for every label)."""
    multilabel: bool = False
    """The probabilities are independent sigmoids: the temperature scales each label's logit, sigmoid(logit p / T)."""

    def calibrated(self, probs: np.ndarray) -> np.ndarray:
        if self.temperature == 1.0:
            return np.asarray(probs, dtype=np.float32)
        if self.multilabel:
            return sigmoid_scaled(probs, self.temperature)
        return softmax(np.log(np.clip(probs, _FLOOR, None)) / self.temperature)

    def decision_scores(self, probs: np.ndarray) -> np.ndarray:
        """What the decision is the argmax of, as probabilities (so a gate's argmax sees the decision).

        Multi-label: each label's probability moved so that 0.5 on the score is its threshold on the
        probability (sigmoid(logit p - logit t)), so the gate's metrics at 0.5 see the tuned decision."""
        if self.thresholds is not None:
            return threshold_scores(probs, np.asarray(self.thresholds))
        return self.biased(self.calibrated(probs))

    def biased(self, calibrated: np.ndarray) -> np.ndarray:
        """Calibrated probabilities -> the decision scores (the biases added to their logarithms)."""
        if self.bias is None:
            return np.asarray(calibrated, dtype=np.float32)
        return softmax(np.log(np.clip(calibrated, _FLOOR, None)) + np.asarray(self.bias))

    def decide(self, calibrated: np.ndarray) -> np.ndarray:
        """Class ids from calibrated probabilities (what a predictor's predict_probs returns)."""
        return self.biased(calibrated).argmax(axis=1)

    def label_sets(self, probs: np.ndarray) -> np.ndarray:
        """Multi-label decisions: the (rows, labels) 0/1 matrix of probabilities at or above their thresholds."""
        cut = 0.5 if self.thresholds is None else np.asarray(self.thresholds)
        return (np.asarray(probs) >= cut).astype(np.int64)

    def save(self, model_dir: Path) -> None:
        bias = None if self.bias is None else list(self.bias)
        record = {**asdict(self), "bias": bias}
        if not self.multilabel:
            record.pop("multilabel")
        if self.thresholds is None:  # single-label decision.json files stay as they were
            record.pop("thresholds")
        else:
            record["thresholds"] = list(self.thresholds)
        write_json(Path(model_dir) / DECISION_FILE, record)

    @classmethod
    def load(cls, model_dir: Path) -> Decision:
        path = Path(model_dir) / DECISION_FILE
        if not path.is_file():
            return cls()
        from ratchet.models.load import read_folder_json

        data = read_folder_json(path, "temperature")
        bias, thresholds = data.get("bias"), data.get("thresholds")
        return cls(
            float(data["temperature"]),
            None if bias is None else tuple(float(b) for b in bias),
            None if thresholds is None else tuple(float(t) for t in thresholds),
            bool(data.get("multilabel", False)),
        )

    def with_(self, **changes: Any) -> Decision:
        return replace(self, **changes)


def threshold_scores(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """sigmoid(logit p - logit t): >= 0.5 exactly where p >= t, order within a label unchanged."""
    p = np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, 1 - _FLOOR)
    t = np.clip(np.asarray(thresholds, dtype=np.float64), _FLOOR, 1 - _FLOOR)
    shifted = np.log(p / (1 - p)) - np.log(t / (1 - t))
    return (1.0 / (1.0 + np.exp(-shifted))).astype(np.float32)


def sigmoid_scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """sigmoid(logit p / T), label by label: temperature scaling of independent sigmoid probabilities."""
    p = np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, 1 - _FLOOR)
    return (1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / temperature))).astype(np.float32)


def fit_sigmoid_temperature(y: np.ndarray, probs: np.ndarray) -> float:
    """The T minimizing the binary cross-entropy of sigmoid(logit p / T) over every label of every row."""
    from scipy.optimize import minimize_scalar

    from ratchet.evaluation.multilabel_metrics import row_binary_log_loss

    def loss(log_t: float) -> float:
        return float(row_binary_log_loss(y, sigmoid_scaled(probs, float(np.exp(log_t)))).mean())

    found = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_temperature(y: np.ndarray, probs: np.ndarray) -> float:
    """The T minimizing log loss of softmax(log p / T) (Guo et al. 2017), searched on a log scale."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, None))
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        scaled = logp / np.exp(log_t)
        scaled -= scaled.max(axis=1, keepdims=True)
        return float((np.log(np.exp(scaled).sum(axis=1)) - scaled[rows, y]).mean())

    found = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def fit_bias(y: np.ndarray, probs: np.ndarray, metric: str = "macro_f1", rounds: int = 3) -> tuple[float, ...]:
    """Per-class biases on log-probabilities maximizing ``metric`` by coordinate ascent over BIAS_GRID.

    The first class's bias stays 0 (only differences matter); a tie keeps the bias nearest 0, so
    data that gives no reason to move leaves the decisions alone.
    """
    from ratchet.evaluation.metrics import score

    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, None))
    k = logp.shape[1]
    bias = np.zeros(k)

    def value(b: np.ndarray) -> float:
        onehot = np.eye(k)[(logp + b).argmax(axis=1)]
        return float(score(metric, y, onehot))

    best = value(bias)
    for _ in range(rounds):
        moved = False
        for c in range(1, k):
            for candidate in sorted(BIAS_GRID, key=abs):
                trial = bias.copy()
                trial[c] = candidate
                got = value(trial)
                if got > best + 1e-12:
                    best, bias, moved = got, trial, True
        if not moved:
            break
    return tuple(float(b) for b in bias)


HOLDOUT_FOLDS = 5
"""Folds cut from a holdout plan's valid rows to judge a decision fitted on them honestly (calibrate,
decide, blend, and the gate's cross-tuned thresholds)."""

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
"""Candidate values of one label's decision threshold."""


def fit_thresholds(y: np.ndarray, probs: np.ndarray, metric: str = "micro_f1", rounds: int = 2) -> tuple[float, ...]:
    """Per-label thresholds maximizing ``metric`` on label sets, by coordinate ascent over THRESHOLD_GRID.

    Starts from 0.5 for every label; a tie keeps the threshold nearest 0.5, so a label whose data
    gives no reason to move keeps the plain sigmoid decision.
    """
    from ratchet.evaluation.metrics import score

    probs = np.asarray(probs, dtype=np.float64)
    thresholds = np.full(probs.shape[1], 0.5)

    def value(t: np.ndarray) -> float:
        return float(score(metric, y, (probs >= t).astype(np.float32)))

    best = value(thresholds)
    for _ in range(rounds):
        moved = False
        for label in range(len(thresholds)):
            for candidate in sorted(THRESHOLD_GRID, key=lambda t: abs(t - 0.5)):
                trial = thresholds.copy()
                trial[label] = candidate
                got = value(trial)
                if got > best + 1e-12:
                    best, thresholds, moved = got, trial, True
        if not moved:
            break
    return tuple(float(t) for t in thresholds)


def cross_fitted(
    y: np.ndarray, probs: np.ndarray, folds: np.ndarray, make: Callable[[np.ndarray, np.ndarray], Decision]
) -> np.ndarray:
    """Each fold's decision scores from a Decision fitted on the other folds' rows only: an honest estimate
    of what fitting it on every judged row buys."""
    out = np.full_like(np.asarray(probs, dtype=np.float32), np.nan)
    for fold in np.unique(folds):
        held = folds == fold
        out[held] = make(y[~held], probs[~held]).decision_scores(probs[held])
    return out


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k folds over judged rows that carry none (a holdout plan's valid rows), stratified by label
    (label sets: by iterative stratification)."""
    from ratchet.relabel.oof import fold_ids

    if np.ndim(y) == 2:
        from ratchet.data.multilabel_split import iterative_parts

        return iterative_parts(np.asarray(y), [1.0] * k, seed)

    return fold_ids(np.asarray(y), k, seed)
