"""decide (gated): per-class decision biases tuned to the gate metric (macro-F1 rewards recall on rare classes).

A model trained on a majority class seldom predicts a rare one from its argmax, even when its
probabilities rank that class well: on the drug reviews the fine-tune predicted "neutral" for
1 of 36 neutral test rows. Biases added to the log-probabilities move the decision boundary
without touching the ``prob_`` columns. They are fitted on the judged rows of the model that
would ship; the candidate is judged honestly, each fold's rows decided with biases fitted on
the other folds only, against the plain argmax, by the run's gate metric. If kept, the model
ships again with the biases (fitted on every judged row) in ``decision.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.models.decision import Decision, cross_fitted, fit_bias, fit_thresholds
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.calibrate import HOLDOUT_FOLDS, judged, reship


@dataclass(frozen=True)
class DecideParams:
    metric: str = "macro_f1"
    """The metric the biases maximize (the run's gate metric)."""
    multilabel_metric: str = "micro_f1"
    """Multi-label runs: the metric the per-label thresholds maximize (the run's gate.multilabel_metric)."""
    holdout_folds: int = HOLDOUT_FOLDS
    """Folds cut from a holdout plan's valid rows to judge the fitted biases honestly."""


class DecideStep:
    name: ClassVar[str] = "decide"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = ("data.folds",)
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.0
    settles_thresholds: ClassVar[bool] = True
    """Multi-label: this step decides the thresholds that ship, so the gate judges every earlier step at
    cross-tuned thresholds, and this one as given (its reference at 0.5; ratchet.gate)."""

    def __init__(self, params: DecideParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        if self.params.metric == "neg_log_loss":
            return Skipped("the gate metric is log loss, which decisions do not change")
        found = judged(ctx, self.params.holdout_folds)
        if found is None:
            return Skipped("no shipped model with judged probabilities to decide with")
        if found.labels.ndim == 2:
            return decide_thresholds(ctx, found, self.params.multilabel_metric)
        rows, y, probs = found.rows, found.labels[found.rows], found.probs[found.rows]
        metric = self.params.metric
        candidate = np.full_like(found.probs, np.nan)
        candidate[rows] = cross_fitted(
            y, probs, found.folds[rows], lambda yy, pp: Decision(bias=fit_bias(yy, pp, metric))
        )
        bias = fit_bias(y, probs, metric)
        current = Decision.load(Path(ctx.artifacts.get("model.current")))
        labels = ctx.task_data().labels
        per_class = {str(label): round(b, 2) for label, b in zip(labels, bias, strict=True)}
        metrics: dict[str, Any] = {
            "bias": per_class,
            "predicted_share_before": _shares(probs.argmax(1), len(labels), labels),
            "predicted_share_after": _shares(candidate[rows].argmax(1), len(labels), labels),
            "judged_on": "each fold decided with biases fitted on the other folds",
        }
        return Candidate(
            probs=candidate, metrics=metrics, ship=lambda: reship(ctx, current.with_(bias=bias)),
        )  # fmt: skip


def decide_thresholds(ctx: StepContext, found: Any, metric: str) -> Outcome:
    """Multi-label: one decision threshold per label, judged like the biases (each fold's rows decided with
    thresholds tuned on the other folds) against 0.5 for every label; if kept they ship in decision.json."""
    if metric == "neg_log_loss":
        return Skipped("the gate metric is log loss, which thresholds do not change")
    rows, y, probs = found.rows, found.labels[found.rows], found.probs[found.rows]
    candidate = np.full_like(found.probs, np.nan)
    candidate[rows] = cross_fitted(
        y, probs, found.folds[rows], lambda yy, pp: Decision(thresholds=fit_thresholds(yy, pp, metric))
    )
    thresholds = fit_thresholds(y, probs, metric)
    current = Decision.load(Path(ctx.artifacts.get("model.current")))
    labels = ctx.task_data().labels
    metrics: dict[str, Any] = {
        "thresholds": {str(label): t for label, t in zip(labels, thresholds, strict=True)},
        "labels_per_row_before": round(float((probs >= 0.5).sum(1).mean()), 4),
        "labels_per_row_after": round(float((candidate[rows] >= 0.5).sum(1).mean()), 4),
        "judged_on": "each fold decided with thresholds tuned on the other folds",
    }
    return Candidate(probs=candidate, metrics=metrics, ship=lambda: reship(ctx, current.with_(thresholds=thresholds)))


def _shares(ids: np.ndarray, k: int, labels: list) -> dict[str, float]:
    counts = np.bincount(ids, minlength=k) / max(1, len(ids))
    return {str(label): round(float(c), 4) for label, c in zip(labels, counts, strict=True)}
