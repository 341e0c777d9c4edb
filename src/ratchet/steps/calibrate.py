"""calibrate (gated, by log loss): one temperature so that the shipped ``prob_`` columns mean what they say.

The temperature is fitted on the judged rows (out-of-fold, or validation) of the model that
would ship. The candidate is judged honestly: each fold's rows are scaled by a temperature
fitted on the other folds only (a holdout plan's valid rows are cut into 5 folds for this),
against the unscaled probabilities, by log loss, since a temperature changes no decision.
If kept, the model ships again with ``decision.json`` (temperature fitted on every judged
row), which every predictor applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.models.decision import HOLDOUT_FOLDS, Decision, cross_fitted, fit_temperature, stratified_folds
from ratchet.step import Candidate, Outcome, Skipped, StepContext


@dataclass(frozen=True)
class CalibrateParams:
    holdout_folds: int = HOLDOUT_FOLDS
    """Folds cut from a holdout plan's valid rows to judge a fitted temperature or bias honestly."""


@dataclass
class Judged:
    probs: np.ndarray
    labels: np.ndarray
    folds: np.ndarray
    rows: np.ndarray
    """Judged rows the shipped model covers (all but folds the budget skipped)."""


def judged(ctx: StepContext, holdout_folds: int) -> Judged | None:
    """The shipped model's judged probabilities with their labels and folds (None: nothing ships yet)."""
    from ratchet.gate import covered

    if ctx.incumbent is None:
        return None
    crossfit = ctx.crossfit
    labels = crossfit.judged_labels()
    if len(labels) != len(ctx.incumbent):
        return None
    folds = crossfit.plan.fold_ids() if crossfit.crossfit else stratified_folds(labels, holdout_folds, ctx.seed)
    return Judged(ctx.incumbent, labels, folds, covered(ctx.incumbent))


def reship(ctx: StepContext, decision: Decision) -> dict[str, Path]:
    """The shipped model again (hard links), with ``decision`` in its decision.json."""
    from ratchet.shipping import ship_model

    out = ctx.step_dir / "model"
    ship_model(ctx.artifacts.get("model.current"), out)
    decision.save(out)
    return {"model.current": out}


class CalibrateStep:
    name: ClassVar[str] = "calibrate"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = ("data.folds",)
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.0

    def __init__(self, params: CalibrateParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.evaluation.curves import calibration
        from ratchet.evaluation.metrics import row_log_loss

        found = judged(ctx, self.params.holdout_folds)
        if found is None:
            return Skipped("no shipped model with judged probabilities to calibrate")
        if found.labels.ndim == 2:
            return calibrate_label_sets(ctx, found)
        rows, y, probs = found.rows, found.labels[found.rows], found.probs[found.rows]
        candidate = np.full_like(found.probs, np.nan)
        candidate[rows] = cross_fitted(
            y, probs, found.folds[rows], lambda yy, pp: Decision(temperature=fit_temperature(yy, pp))
        )
        current = Decision.load(Path(ctx.artifacts.get("model.current")))
        temperature = fit_temperature(y, probs)
        metrics: dict[str, Any] = {
            "temperature": temperature,
            "ece_before": calibration(y, probs)[0],
            "ece_after": calibration(y, candidate[rows])[0],
            "log_loss_before": float(row_log_loss(y, probs).mean()),
            "log_loss_after": float(row_log_loss(y, candidate[rows]).mean()),
            "judged_on": "each fold scaled by a temperature fitted on the other folds",
        }
        return Candidate(
            probs=candidate, metrics=metrics, reference=found.probs, reference_name="the uncalibrated probabilities",
            metric="neg_log_loss", ship=lambda: reship(ctx, current.with_(temperature=temperature)),
        )  # fmt: skip


def calibrate_label_sets(ctx: StepContext, found: Judged) -> Outcome:
    """Multi-label: one temperature for every label's sigmoid, fitted by binary cross-entropy, judged the same way
    (each fold scaled by a temperature fitted on the other folds) by binary log loss."""
    from ratchet.evaluation.multilabel_metrics import row_binary_log_loss
    from ratchet.models.decision import fit_sigmoid_temperature

    rows, y, probs = found.rows, found.labels[found.rows], found.probs[found.rows]
    candidate = np.full_like(found.probs, np.nan)
    candidate[rows] = cross_fitted(
        y, probs, found.folds[rows],
        lambda yy, pp: Decision(temperature=fit_sigmoid_temperature(yy, pp), multilabel=True),
    )  # fmt: skip
    current = Decision.load(Path(ctx.artifacts.get("model.current")))
    temperature = fit_sigmoid_temperature(y, probs)
    metrics: dict[str, Any] = {
        "temperature": temperature,
        "log_loss_before": float(row_binary_log_loss(y, probs).mean()),
        "log_loss_after": float(row_binary_log_loss(y, candidate[rows]).mean()),
        "judged_on": "each fold scaled by a temperature fitted on the other folds (sigmoid, every label)",
    }
    return Candidate(
        probs=candidate, metrics=metrics, reference=found.probs, reference_name="the uncalibrated probabilities",
        metric="neg_log_loss", ship=lambda: reship(ctx, current.with_(temperature=temperature, multilabel=True)),
    )  # fmt: skip
