"""baseline: TF-IDF + logistic regression in seconds - the floor in the ledger and a shippable model.

Not gated: it is the first model, so there is nothing to beat yet. It provides
``model.baseline`` (what ``select`` compares transformers with and ``train`` ships when
select picked "linear") and also ``model.current``, so that a recipe without a
transformer (``clean,split,baseline,evaluate``) is a complete run, and a run killed
later already has a usable RUN/model. ``train`` always replaces ``model.current``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ratchet.models.linear import LinearParams
from ratchet.step import Completed, StepContext


@dataclass(frozen=True)
class BaselineParams:
    linear: LinearParams = field(default_factory=LinearParams)


class BaselineStep:
    name: ClassVar[str] = "baseline"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ("data.folds",)
    provides: ClassVar[tuple[str, ...]] = ("model.baseline", "model.current", "judged.baseline")
    gated: ClassVar[bool] = False
    budget_share: ClassVar[float] = 0.0

    def __init__(self, params: BaselineParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        crossfit = ctx.crossfit
        model_dir = ctx.step_dir / "model"
        fit, shipped = crossfit.linear(self.params.linear, out_dir=model_dir, meta={"backbone": "linear"})
        model = shipped.model
        n_features = sum(len(vec.vocabulary_) for vecs in model.vectorizers_ for vec in vecs)
        metrics = {
            "model": "tfidf-word+char-logreg",
            "C": model.C,
            "best_valid_macro_f1": shipped.best_score,
            "grid": shipped.grid,
            "n_features": n_features,
            "seconds": shipped.seconds,
            "crossfit": fit.summary(),
        }
        if crossfit.crossfit:
            metrics["fold_C"] = [fold.info["C"] for fold in fit.folds]
            metrics["shipped"] = (
                f"refit on all {len(crossfit.pool)} train+valid rows (C {model.C} chosen on an inner holdout); "
                "its estimate is the out-of-fold one, every fold fit with the same C"
            )
        ctx.log.info("baseline: TF-IDF + logistic regression, C %s", model.C)
        from ratchet.finetuning.finetune import save_array

        judged = ctx.step_dir / "judged_probs.npy"  # blend reads the baseline's judged probabilities from here
        save_array(judged, fit.probs)
        provides = {"model.baseline": model_dir, "model.current": model_dir, "judged.baseline": judged}
        return Completed(provides=provides, metrics=metrics, probs=fit.probs)
