"""blend (gated): the TF-IDF baseline's and the shipped fine-tune's probabilities, averaged with one weight.

Word n-grams and a sentence encoder err on different rows: on held-out public tweets a frozen
encoder alone scored below TF-IDF, yet their blend scored above it. The weight w of the
baseline (blend = w * baseline + (1 - w) * fine-tune) is chosen on the judged rows; the
candidate is judged honestly, each fold's rows blended with a weight chosen on the other
folds only (a holdout plan's valid rows are cut into 5 for this), against the fine-tune
alone. If kept, both models ship as one weighted ensemble folder.

When the rule rejected train's fine-tune, the baseline would ship; the fine-tune's fold fits
still sit in the run's fit cache, and two models that err on different rows can blend into
a better one even when neither beats the other. blend then proposes that blend, judged against
the baseline by the same rule (a second look at the same fits, which the ledger says), and a
kept one refits the fine-tune on every train+valid row, as train would have. Nothing is
trained to judge it: a fine-tune the cache does not hold is not blended. The presets run this
step before ``embed``, so that the fit already paid for gets the first look and embed's frozen
encoder stands in only where neither the fine-tune nor its blend ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.config import TrainParams
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
    model: str | None = None
    """The backbone train fits when no earlier step chose one, and ``train`` its configured parameters: where the
    rule rejected that fine-tune, its cached fold fits are blended with the baseline (None: never)."""
    train: TrainParams | None = None
    ship: str = "refit"
    """gate.ship: a rejected fine-tune is blended only where a kept one would ship as a refit."""


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
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "model.baseline", "judged.baseline", "model.backbone", "train.params",
    )  # fmt: skip
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
        if "weights" in meta:
            return Skipped("the model that would ship is a blend with the baseline already")
        found = judged(ctx, self.params.holdout_folds)
        if found is None:
            return Skipped("no shipped model with judged probabilities to blend")
        baseline = np.load(baseline_path)
        metrics: dict[str, Any] = {}
        rejected = current.resolve() == Path(baseline_dir).resolve() or meta.get("kind") == "linear"
        if rejected:
            cached = rejected_finetune(ctx, self.params)
            if isinstance(cached, Skipped):
                return cached
            fit, backbone, params = cached
            model, ship_model = fit.probs, self._finetune_shipper(ctx, fit, backbone, params)
            metrics["fine_tune"] = (
                f"train's fine-tune, rejected alone; its {len(fit.folds)} fold fit(s) read back from the run's fit "
                "cache (a second look at the same fits)"
            )
        else:
            model, ship_model = found.probs, lambda metrics: current
        rows = found.rows & np.isfinite(baseline).all(axis=1) & np.isfinite(model).all(axis=1)
        y, folds = found.labels[rows], found.folds[rows]
        metric = self.params.multilabel_metric if y.ndim == 2 else self.params.metric
        blended, chosen = cross_blend(y, baseline[rows], model[rows], folds, metric)
        candidate = np.full_like(found.probs, np.nan)
        candidate[rows] = blended
        weight = best_weight(y, baseline[rows], model[rows], metric)
        metrics.update(
            baseline_weight=weight, fold_weights=chosen,
            judged_on="each fold blended with a weight chosen on the other folds",
        )  # fmt: skip
        if weight == 0.0:
            return Skipped("the best blend on the judged rows gives the baseline no weight", metrics)
        if rejected and weight == 1.0:
            return Skipped("the best blend on the judged rows gives the fine-tune no weight", metrics)

        def ship() -> dict[str, Path]:
            from ratchet.models.ensemble import save_ensemble

            out = ctx.step_dir / "blend"
            save_ensemble([ship_model(metrics), Path(baseline_dir)], out, weights=[1 - weight, weight])
            weights = f"{1 - weight:.1f} / {weight:.1f}"
            metrics["shipped"] = f"the fine-tune and the TF-IDF baseline, probabilities weighted {weights}"
            return {"model.current": out}

        return Candidate(probs=candidate, metrics=metrics, ship=ship)

    @staticmethod
    def _finetune_shipper(ctx: StepContext, fit: Any, backbone: str, params: TrainParams):
        """How the rejected fine-tune's shipped model is made once the blend is kept: holdout, the model train
        saved (its fit is the one judged); cross-fitted, the refit train would have shipped."""

        def shipped(metrics: dict[str, Any]) -> Path:
            if not ctx.crossfit.crossfit:
                return Path(fit.folds[0].model_dir)
            from ratchet.steps.train import refit_finetune

            model_dir = ctx.step_dir / "fine-tune"
            refit: dict[str, Any] = {}
            refit_finetune(ctx, fit, backbone, params, model_dir, refit)
            metrics["fine_tune_refit"] = refit
            return model_dir

        return shipped


def cross_blend(
    y: np.ndarray, baseline: np.ndarray, model: np.ndarray, folds: np.ndarray, metric: str
) -> tuple[np.ndarray, list[float]]:
    """Each fold's rows blended with the weight that scores best on the other folds' rows, and those weights."""
    chosen = []
    blended = np.empty_like(model)
    for fold in np.unique(folds):
        held = folds == fold
        w = best_weight(y[~held], baseline[~held], model[~held], metric)
        chosen.append(w)
        blended[held] = w * baseline[held] + (1 - w) * model[held]
    return blended, chosen


def rejected_finetune(ctx: StepContext, params: BlendParams) -> tuple[Any, str, TrainParams] | Skipped:
    """train's fine-tune as the run's fit cache holds it (fit, backbone, parameters), or why there is none."""
    from ratchet.crossfit.cached import cached_transformer
    from ratchet.fewshot.shipping import picked_fewshot
    from ratchet.steps.train import resolved_backbone, resolved_train_params

    nothing = "the model that would ship is the baseline itself"
    if params.model is None or params.train is None:
        return Skipped(nothing)
    if ctx.crossfit.crossfit and params.ship != "refit":
        return Skipped(f"{nothing}; a rejected fine-tune is blended only when gate.ship=refit")
    backbone = resolved_backbone(ctx, params.model)
    if backbone == "linear" or picked_fewshot(ctx.artifacts.maybe("model.backbone")) is not None:
        return Skipped(f"{nothing}, and no fine-tune of a transformer was fitted to blend it with")
    train = resolved_train_params(ctx, params.train)
    fit = cached_transformer(ctx.crossfit, backbone, train, seed=ctx.seed, name="train")
    if fit is None or (not ctx.crossfit.crossfit and fit.folds[0].model_dir is None):
        return Skipped(f"{nothing}, and the run's fit cache holds no fine-tune to blend it with")
    late = refit_out_of_time(fit, ctx.time_left()) if ctx.crossfit.crossfit else None
    if late is not None:
        return Skipped(f"{nothing}; {late}")
    return fit, backbone, train


def refit_out_of_time(fit: Any, left: float | None) -> str | None:
    """Why a kept blend could not refit the cross-fitted fine-tune in the ``left`` seconds of the budget (about
    REFIT_COST fold fits: more rows, plus loading), or None when it can (or there is no budget)."""
    import statistics

    from ratchet.crossfit.service import REFIT_COST

    if left is None:
        return None
    refit = REFIT_COST * statistics.median(f.seconds for f in fit.folds)
    if left >= refit:
        return None
    return f"a kept blend would refit the fine-tune (about {refit:.0f} s), and the budget has {max(left, 0):.0f} s left"
