"""blend (gated): the TF-IDF baseline's and the shipped fine-tune's probabilities, averaged with one weight.

Word n-grams and a sentence encoder err on different rows: on held-out public tweets a frozen
encoder alone scored below TF-IDF, yet their blend scored above it. The weight w of the
baseline (blend = w * baseline + (1 - w) * fine-tune) is chosen on the judged rows; the
candidate is judged honestly, each fold's rows blended with a weight chosen on the other
folds only (a holdout plan's valid rows are cut into 5 for this), against the fine-tune
alone. If kept, both models ship as one weighted ensemble folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.fsutil import read_json
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.calibrate import HOLDOUT_FOLDS, judged

WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.1), 2)
"""Baseline weights tried; 0 is the fine-tune alone."""
BASELINE_PROBS = "judged_probs.npy"


@dataclass(frozen=True)
class BlendParams:
    metric: str = "macro_f1"
    """The weight maximizes this metric on the judged rows (the run's gate metric)."""
    multilabel_metric: str = "micro_f1"
    """Multi-label runs: the metric the weight maximizes (gate.multilabel_metric), at per-label thresholds tuned
    for each weight; sigmoid probabilities average like softmax ones, label by label."""
    holdout_folds: int = HOLDOUT_FOLDS


def best_weight(y: np.ndarray, baseline: np.ndarray, model: np.ndarray, metric: str) -> float:
    """The baseline weight in WEIGHTS that scores best; ties go to the smaller weight (less change)."""
    values = [blend_score(y, w * baseline + (1 - w) * model, metric) for w in WEIGHTS]
    return float(WEIGHTS[int(np.argmax(values))])


def blend_score(y: np.ndarray, probs: np.ndarray, metric: str) -> float:
    """``metric`` of a blend as the gate will see it: label sets (y a 0/1 matrix) at per-label thresholds tuned on
    these rows, as the gate judges them until decide settles the shipped ones (at 0.5 a blend that moves
    probabilities toward the middle would lose labels the thresholds keep); anything else as given."""
    from ratchet.evaluation.metrics import score

    if y.ndim == 2 and metric != "neg_log_loss":
        from ratchet.models.decision import fit_thresholds, threshold_scores

        probs = threshold_scores(probs, np.asarray(fit_thresholds(y, probs, metric)))
    return float(score(metric, y, probs))


class BlendStep:
    name: ClassVar[str] = "blend"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = ("data.folds", "model.baseline", "judged.baseline")
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.0

    def __init__(self, params: BlendParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        baseline_dir, baseline_path = ctx.artifacts.maybe("model.baseline"), ctx.artifacts.maybe("judged.baseline")
        current = Path(ctx.artifacts.get("model.current"))
        if baseline_dir is None or baseline_path is None:
            return Skipped("no baseline to blend with: add baseline to the steps")
        meta = read_json(current / "ratchet.json")
        if current.resolve() == Path(baseline_dir).resolve() or meta.get("kind") == "linear":
            return Skipped("the model that would ship is the baseline itself")
        if "weights" in meta:
            return Skipped("the model that would ship is a blend with the baseline already")
        found = judged(ctx, self.params.holdout_folds)
        if found is None:
            return Skipped("no shipped model with judged probabilities to blend")
        baseline = np.load(baseline_path)
        rows = found.rows & np.isfinite(baseline).all(axis=1)
        y, model, base, folds = found.labels[rows], found.probs[rows], baseline[rows], found.folds[rows]
        metric = self.params.multilabel_metric if y.ndim == 2 else self.params.metric
        candidate = np.full_like(found.probs, np.nan)
        chosen = []
        blended = np.empty_like(model)
        for fold in np.unique(folds):
            held = folds == fold
            w = best_weight(y[~held], base[~held], model[~held], metric)
            chosen.append(w)
            blended[held] = w * base[held] + (1 - w) * model[held]
        candidate[rows] = blended
        weight = best_weight(y, base, model, metric)
        metrics: dict[str, Any] = {
            "baseline_weight": weight,
            "fold_weights": chosen,
            "judged_on": "each fold blended with a weight chosen on the other folds",
        }
        if weight == 0.0:
            return Skipped("the best blend on the judged rows gives the baseline no weight", metrics)

        def ship() -> dict[str, Path]:
            from ratchet.models.ensemble import save_ensemble

            out = ctx.step_dir / "blend"
            save_ensemble([current, Path(baseline_dir)], out, weights=[1 - weight, weight])
            weights = f"{1 - weight:.1f} / {weight:.1f}"
            metrics["shipped"] = f"the fine-tune and the TF-IDF baseline, probabilities weighted {weights}"
            return {"model.current": out}

        return Candidate(probs=candidate, metrics=metrics, ship=ship)
