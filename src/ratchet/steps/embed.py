"""embed (gated): when no fine-tune ships, a frozen encoder's embeddings + logistic regression, blended with TF-IDF.

The cheap strong candidate for a run that cannot afford a fine-tune (a tight --budget, or a
fine-tune the rule rejected): every train+valid text goes once through the pretrained encoder
(no training), a class-balanced logistic regression reads the mean-pooled states, and its
probabilities are averaged with the TF-IDF baseline's (word n-grams and a sentence encoder err
on different rows). Cross-fitted like every candidate: each fold's regression is fitted
without that fold, C chosen inside its training part, and the blend weight for its rows chosen
on the other folds. Judged against the baseline; if kept, both models ship as one weighted
ensemble. It runs after ``blend`` and only where the baseline would still ship: when the rule
rejected train's fine-tune, blend's second look at its cached fold fits comes first (that fit is
paid for, and on the drug reviews its blend scored 0.516 out of fold against this step's 0.475;
run the other way round, embed's weaker blend was kept first and blend never looked). When a
fine-tune (or its blend) ships, this step stands aside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.fsutil import read_json
from ratchet.shipping import a_model_of_kind
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.blend import best_weight

EMBED_SHARE = 0.8
"""Share of the step's time the embedding pass may take (projected from its first batches)."""


@dataclass(frozen=True)
class EmbedParams:
    model: str = "default"
    """Encoder when no earlier step provided model.backbone."""
    max_length: int = 256
    metric: str = "macro_f1"


class EmbedStep:
    name: ClassVar[str] = "embed"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = ("data.folds", "data.cleaning", "model.backbone", "model.baseline",
                                           "judged.baseline")  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.1

    def __init__(self, params: EmbedParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.crossfit.linear_folds import inner_holdout
        from ratchet.evaluation.metrics import score
        from ratchet.models.embedding_model import C_GRID, EmbeddingHead
        from ratchet.relabel.features import embed
        from ratchet.steps.train import resolved_backbone

        baseline_dir, baseline_path = ctx.artifacts.maybe("model.baseline"), ctx.artifacts.maybe("judged.baseline")
        if baseline_dir is None or baseline_path is None:
            return Skipped("no TF-IDF baseline to blend the embeddings with: add baseline before embed")
        current = Path(ctx.artifacts.get("model.current"))
        if current.resolve() != Path(baseline_dir).resolve():
            kind = read_json(current / "ratchet.json").get("kind")
            return Skipped(
                f"the model that would ship is {a_model_of_kind(kind)}, not the baseline that embed stands in for"
            )
        backbone = resolved_backbone(ctx, self.params.model)
        backbone = self.params.model if backbone == "linear" else backbone
        crossfit = ctx.crossfit
        rows = crossfit.pool if crossfit.crossfit else crossfit.holdout.train
        judged_texts = None if crossfit.crossfit else crossfit.holdout.valid
        left = ctx.time_left()
        started = time.time()
        texts = rows.texts + ([] if judged_texts is None else judged_texts.texts)
        pairs = None if rows.pairs is None else rows.pairs + ([] if judged_texts is None else judged_texts.pairs)
        vectors = embed(backbone, texts, pairs, max_length=self.params.max_length, device=ctx.device,
                        time_limit=None if left is None else max(left, 0.0) * EMBED_SHARE,
                        progress=ctx.progress)  # fmt: skip
        if vectors is None:
            return Skipped("embedding every train+valid text would overrun the time budget")
        metrics: dict[str, Any] = {"backbone": backbone, "embed_seconds": round(time.time() - started, 1)}
        n_labels = len(crossfit.labels)

        def head_on(x: np.ndarray, y: np.ndarray, seed: int) -> EmbeddingHead:
            fit_rows, choose_rows = inner_holdout(y, 0.15, seed)
            scores = {}
            for C in C_GRID:
                trial = EmbeddingHead.fit(x[fit_rows], y[fit_rows], n_labels, C, seed)
                scores[C] = float(score("macro_f1", y[choose_rows], trial.predict_proba(x[choose_rows])))
            return EmbeddingHead.fit(x, y, n_labels, max(scores, key=scores.__getitem__), seed)

        own = crossfit.empty()
        if crossfit.crossfit:
            for split in crossfit.plan.splits():
                head = head_on(vectors[split.train], crossfit.pool.label_ids[split.train], ctx.seed + split.fold)
                own[crossfit.plan.positions(split)] = head.predict_proba(vectors[split.judged])
        else:
            n = len(rows)
            own[:] = head_on(vectors[:n], rows.label_ids, ctx.seed).predict_proba(vectors[n:])
        baseline = np.load(baseline_path)
        found = _blend_out_of_fold(ctx, crossfit, own, baseline, self.params.metric)
        if found is None:
            return Skipped("no judged rows to blend on", metrics)
        candidate, weight, fold_weights = found
        metrics.update(embedding_macro_f1=crossfit.score(own), baseline_weight=weight, fold_weights=fold_weights)
        if weight >= 1.0:
            return Skipped("the best blend on the judged rows gives the embeddings no weight", metrics)

        def ship() -> dict[str, Path]:
            from ratchet.models.embedding_model import save_embedding_model
            from ratchet.models.ensemble import save_ensemble

            y = rows.label_ids  # the pool (cross-fitted) or the train rows (holdout), as they were embedded
            head = head_on(vectors[: len(y)], y, ctx.seed)
            model_dir = ctx.step_dir / "embedding"
            save_embedding_model(head, backbone, self.params.max_length, crossfit.labels, model_dir,
                                 {"refit_rows": len(y)})  # fmt: skip
            out = ctx.step_dir / "blend"
            save_ensemble([Path(baseline_dir), model_dir], out, weights=[weight, 1 - weight])
            weights = f"{weight:.1f} / {1 - weight:.1f}"
            metrics["shipped"] = f"TF-IDF and frozen-encoder embeddings, probabilities weighted {weights}"
            return {"model.current": out}

        return Candidate(probs=candidate, metrics=metrics, ship=ship)


def _blend_out_of_fold(
    ctx: StepContext, crossfit: Any, own: np.ndarray, baseline: np.ndarray, metric: str
) -> tuple[np.ndarray, float, list[float]] | None:
    """(candidate, weight on every judged row, each fold's weight): each fold blended with a weight chosen on the
    other folds (a holdout plan's valid rows cut into 5)."""
    from ratchet.gate import covered
    from ratchet.models.decision import stratified_folds

    y = crossfit.judged_labels()
    folds = crossfit.plan.fold_ids() if crossfit.crossfit else stratified_folds(y, 5, ctx.seed)
    rows = covered(own) & covered(baseline)
    if not rows.any():
        return None
    candidate = np.full_like(own, np.nan)
    chosen = []
    for fold in np.unique(folds[rows]):
        held = rows & (folds == fold)
        fit = rows & (folds != fold)
        w = best_weight(y[fit], baseline[fit], own[fit], metric)
        chosen.append(w)
        candidate[held] = w * baseline[held] + (1 - w) * own[held]
    return candidate, best_weight(y[rows], baseline[rows], own[rows], metric), chosen
