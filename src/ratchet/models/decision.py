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

    def calibrated(self, probs: np.ndarray) -> np.ndarray:
        if self.temperature == 1.0:
            return np.asarray(probs, dtype=np.float32)
        return softmax(np.log(np.clip(probs, _FLOOR, None)) / self.temperature)

    def decision_scores(self, probs: np.ndarray) -> np.ndarray:
        """What the decision is the argmax of, as probabilities (so a gate's argmax sees the decision)."""
        return self.biased(self.calibrated(probs))

    def biased(self, calibrated: np.ndarray) -> np.ndarray:
        """Calibrated probabilities -> the decision scores (the biases added to their logarithms)."""
        if self.bias is None:
            return np.asarray(calibrated, dtype=np.float32)
        return softmax(np.log(np.clip(calibrated, _FLOOR, None)) + np.asarray(self.bias))

    def decide(self, calibrated: np.ndarray) -> np.ndarray:
        """Class ids from calibrated probabilities (what a predictor's predict_probs returns)."""
        return self.biased(calibrated).argmax(axis=1)

    def save(self, model_dir: Path) -> None:
        bias = None if self.bias is None else list(self.bias)
        write_json(Path(model_dir) / DECISION_FILE, {**asdict(self), "bias": bias})

    @classmethod
    def load(cls, model_dir: Path) -> Decision:
        path = Path(model_dir) / DECISION_FILE
        if not path.is_file():
            return cls()
        from ratchet.models.load import read_folder_json

        data = read_folder_json(path, "temperature")
        bias = data.get("bias")
        return cls(float(data["temperature"]), None if bias is None else tuple(float(b) for b in bias))

    def with_(self, **changes: Any) -> Decision:
        return replace(self, **changes)


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
    """k folds over judged rows that carry none (a holdout plan's valid rows), stratified by label."""
    from ratchet.relabel.oof import fold_ids

    return fold_ids(np.asarray(y), k, seed)
