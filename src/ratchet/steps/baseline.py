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

from ratchet.data.frames import read_labels, read_split
from ratchet.models.linear import LinearParams
from ratchet.pipeline import StepContext, StepResult


@dataclass(frozen=True)
class BaselineParams:
    linear: LinearParams = field(default_factory=LinearParams)


class BaselineStep:
    name: ClassVar[str] = "baseline"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("model.baseline", "model.current")
    gated: ClassVar[bool] = False

    def __init__(self, params: BaselineParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> StepResult:
        from ratchet.models.linear import fit_linear
        from ratchet.models.linear_folder import save_linear

        labels = read_labels(ctx.artifacts.get("data.labels"))
        train = read_split(ctx.artifacts.get("data.train"))
        valid = read_split(ctx.artifacts.get("data.valid"))
        fitted = fit_linear(
            train.texts,
            train.label_ids,
            valid.texts,
            valid.label_ids,
            len(labels),
            train_pairs=train.pairs,
            valid_pairs=valid.pairs,
            weights=train.weights,
            params=self.params.linear,
            seed=ctx.seed,
            deadline=ctx.deadline,
        )
        model_dir = ctx.step_dir / "model"
        meta = {"backbone": "linear", "C": fitted.model.C, "valid_macro_f1": fitted.best_score}
        save_linear(fitted.model, labels, model_dir, meta)
        n_features = sum(len(vec.vocabulary_) for vecs in fitted.model.vectorizers_ for vec in vecs)
        ctx.log.info("baseline: TF-IDF + logistic regression, valid macro-F1 %.4f", fitted.best_score)
        metrics = {
            "model": "tfidf-word+char-logreg",
            "C": fitted.model.C,
            "best_valid_macro_f1": fitted.best_score,
            "grid": fitted.grid,
            "n_features": n_features,
            "seconds": fitted.seconds,
        }
        return StepResult(
            provides={"model.baseline": model_dir, "model.current": model_dir},
            metrics=metrics,
            valid_probs=fitted.valid_probs,
        )
