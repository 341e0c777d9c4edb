"""chunk (gated): long documents read in overlapping windows, their window predictions pooled per document.

When more than chunk.threshold of the train+valid texts are longer than train.max_length tokens
(or whenever the recipe names chunk), the shipped fine-tune's recipe (same backbone, parameters and
seed) is trained again on windows: every document becomes windows of max_length tokens, chunk.stride
apart, each carrying its document's label (or, with chunk.loss=document, each document learns from its
windows' mean logits: training.pooling). On the judged rows each document's windows are predicted
and pooled (mean, max, token-weighted or confidence-weighted mean: chunking.aggregate). The pooling that
ships is the one best on every judged row; the candidate is judged with each fold of the judged rows
pooled by the one best on the other folds (a holdout's valid rows cut into folds, as decide cuts them),
so choosing the pooling does not flatter it. The reference is the model that would ship: the same
fine-tune on the first max_length tokens of each text (head truncation), which is what train shipped;
or, when that fine-tune did not beat the TF-IDF baseline (which reads whole texts), the baseline that
ships. Kept: the windowed model ships with its windowing in ratchet.json, and predict, ratchet.load,
serve and export apply it. Beside each pooling the options judged are routed (texts that fit in one
window keep the reference's probabilities) and mixed (the windows' probabilities averaged with the
reference's, weights chunk.mix): chunking.options; those ship both models in a "routed" folder.
With chunk.cut=head_tail each text becomes one row instead, its first and last tokens (chunking.windows),
and the rest of the step is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.artifacts import ArtifactView
from ratchet.chunking.options import chunk_options, describe
from ratchet.chunking.params import ChunkParams
from ratchet.config import TrainParams
from ratchet.crossfit.service import REFIT_COST
from ratchet.fsutil import read_json, write_json
from ratchet.models.decision import HOLDOUT_FOLDS, stratified_folds
from ratchet.models.recipe_meta import KEY, best_epoch, recipe, set_epochs
from ratchet.shipping import a_model_of_kind
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.train import resolved_backbone, resolved_train_params

REFERENCE = "the shipped fine-tune on each text's first max_length tokens"
BASELINE = "the shipped TF-IDF baseline (the fine-tune on each text's first max_length tokens did not beat it)"


@dataclass(frozen=True)
class ChunkStepParams:
    model: str
    """Backbone used when no earlier step (select, adapt) provided model.backbone."""
    train: TrainParams = field(default_factory=TrainParams)
    chunk: ChunkParams = field(default_factory=ChunkParams)
    always: bool = False
    """The recipe names chunk explicitly: run it whatever the share of long texts."""
    metric: str = "macro_f1"
    """The gate metric: the pooling is chosen by it on the judged rows."""


class ChunkStep:
    name: ClassVar[str] = "chunk"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "data.cleaning", "data.report", "model.backbone", "train.params",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.4

    def __init__(self, params: ChunkStepParams) -> None:
        self.params = params

    def foreseen_skip(self, artifacts: ArtifactView) -> str | None:
        """Why windows will not run, as the data report's token lengths already tell (for the budget plan; the
        step measures again when its turn comes, with the backbone and max_length then chosen)."""
        p = self.params
        path = artifacts.maybe("data.report")
        if p.always or path is None:
            return None
        tokens = read_json(path).get("lengths", {}).get("tokens", {})
        share = tokens.get("truncated_share")
        if share is None or tokens.get("max_length") != p.train.max_length or share > p.chunk.threshold:
            return None
        return f"{share:.1%} of texts are longer than max_length={p.train.max_length} tokens"

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.chunking.data import long_rows
        from ratchet.data.coverage import load_tokenizer
        from ratchet.data.frames import Split

        p = self.params
        shipped = Path(ctx.artifacts.get("model.current"))
        meta = read_json(shipped / "ratchet.json")
        kind = meta.get("kind")
        if kind not in ("transformer", "linear"):
            return Skipped(f"the shipped model is {a_model_of_kind(kind)}, not one fine-tune to train again on windows")
        if "windowing" in meta:
            return Skipped("the shipped model already reads long texts in windows")
        backbone = resolved_backbone(ctx, p.model)
        if backbone == "linear":
            return Skipped("select chose the linear model: there is no backbone to train on windows")
        params = resolved_train_params(ctx, p.train)
        crossfit = ctx.crossfit
        tokenizer = load_tokenizer(backbone)
        pool = crossfit.pool if crossfit.crossfit else Split.concat(crossfit.holdout.train, crossfit.holdout.valid)
        long = long_rows(tokenizer, pool, params.max_length)  # the texts are tokenized once, here
        n_long = int(long.sum())
        share = n_long / len(long) if len(long) else 0.0
        report = {
            "long_share": round(share, 4), "long_rows": n_long, "rows": len(pool), "max_length": params.max_length,
            "threshold": p.chunk.threshold, "stride": p.chunk.stride, "named_in_recipe": p.always,
            "cut": p.chunk.cut, **({"head_share": p.chunk.head_share} if p.chunk.cut == "head_tail" else {}),
            **({"loss": p.chunk.loss} if p.chunk.cut == "windows" else {}),
            # A truncated fine-tune that lost to the TF-IDF baseline (which reads whole texts) leaves the baseline
            # shipped: windows may still beat it, so they face it.
            "reference": REFERENCE if kind == "transformer" else BASELINE,
        }  # fmt: skip
        metrics: dict[str, Any] = {"chunk": report}
        why = f"{share:.1%} of the {len(pool)} train+valid texts are longer than max_length={params.max_length} tokens"
        if n_long == 0:
            return Skipped(f"{why}: windows would repeat the truncated fine-tune", metrics)
        if share <= p.chunk.threshold and not p.always:
            return Skipped(f"{why}, not more than chunk.threshold={p.chunk.threshold:g}", metrics)
        # The judged rows' lengths, laid out like every judged array: the pool's rows when cross-fitted, else the
        # valid rows, which come last in the pool above.
        judged_long = long[crossfit.plan.judged_rows()] if crossfit.crossfit else long[len(pool) - len(
            crossfit.holdout.valid):]  # fmt: skip
        return self._candidate(ctx, backbone, params, tokenizer, metrics, judged_long)

    def _candidate(
        self, ctx: StepContext, backbone: str, params: TrainParams, tokenizer: Any, metrics: dict[str, Any],
        long_judged: np.ndarray,
    ) -> Outcome:  # fmt: skip
        from ratchet.chunking.predict import windowing_meta

        p = self.params
        crossfit = ctx.crossfit
        model_dir = ctx.step_dir / "model"
        pairs = crossfit.holdout.train.pairs is not None
        meta = {"kind": "transformer", "backbone": backbone, "max_length": params.max_length, "text_pair": pairs,
                KEY: recipe(backbone, params, ctx.seed)}  # fmt: skip

        def fit_fold(split: Any, data: Any, deadline: float | None) -> Any:
            target = None if crossfit.crossfit else model_dir
            return _fit_windows(ctx, backbone, params, tokenizer, data, p.chunk, split.fold, deadline, target, meta)

        reserve = -REFIT_COST if crossfit.crossfit else 0.0  # a refit on every pool row follows a kept cross-fit
        fit = crossfit.run("chunk", fit_fold, reserve=reserve, parallel=True)  # each fold's fit: a FoldFit and files
        if not fit.folds:
            return Skipped(f"no windowed fine-tune fits the time budget: {fit.note}", metrics)
        pooled = _pooled_by_aggregation(crossfit, fit, p.chunk.aggregations)
        options = chunk_options(pooled, ctx.incumbent, long_judged, p.chunk.route, p.chunk.mix)
        pooled = {name: probs for name, (_, probs) in options.items()}
        scores = {name: crossfit.score(probs, p.metric) for name, probs in pooled.items()}
        chosen = options[_best(scores)][0]  # what ships: the pooling (routing, mixing) best on every judged row
        folds = crossfit.plan.fold_ids() if crossfit.crossfit else stratified_folds(
            crossfit.judged_labels(), HOLDOUT_FOLDS, ctx.seed
        )  # fmt: skip
        judged, fold_choices = _cross_chosen(crossfit, pooled, folds, p.metric)
        metrics["chunk"].update(
            windows=fit.folds[0].info["windows"], aggregation_scores=scores, aggregation=chosen.aggregation,
            routed=chosen.routed, long_weight=chosen.long_weight, judged_with=fold_choices,
            judged_long_rows=int(long_judged.sum()),
            reference_score=None if ctx.incumbent is None else crossfit.score(ctx.incumbent, p.metric),
        )  # fmt: skip
        metrics.update(crossfit=fit.summary(), history=fit.folds[0].history)
        windowing = windowing_meta(p.chunk.stride, chosen.aggregation, params.max_length, p.chunk.cut,
                                   p.chunk.head_share, p.chunk.loss)  # fmt: skip
        reference = Path(ctx.artifacts.get("model.current"))

        def routed_folder() -> Path:
            """The folder that ships: the windowed model, or (routed, mixed) it and the reference side by side."""
            if not chosen.needs_reference:
                return model_dir
            from ratchet.models.routed import save_routed

            window = params.max_length if chosen.routed else 0  # mixed everywhere: every text is "long"
            save_routed(reference, model_dir, ctx.step_dir / "routed", window, chosen.long_weight)
            return ctx.step_dir / "routed"

        if not crossfit.crossfit:
            set_epochs(model_dir, best_epoch(fit.folds[0].history))
            write_json(model_dir / "ratchet.json", {**read_json(model_dir / "ratchet.json"), **windowing})
            metrics["shipped"] = describe(chosen, p.chunk, params.max_length)
            return Candidate(probs=judged, provides={"model.current": routed_folder()}, metrics=metrics)
        refit = fit.refit_params(params)

        def ship() -> dict[str, Path]:
            from ratchet.finetuning.finetune import TaskData

            everything = TaskData(crossfit.refit_rows(), crossfit.pool.subset(np.zeros(0, dtype=np.int64)),
                                  crossfit.labels)  # fmt: skip
            shipped_meta = {**meta, KEY: recipe(backbone, refit, ctx.seed), **windowing}
            record = _fit_windows(ctx, backbone, refit, tokenizer, everything, p.chunk, "refit", None, model_dir,
                                  shipped_meta, select_best=False)  # fmt: skip
            metrics["refit"] = {"rows": len(everything.train), "epochs": refit.epochs, **record.info["windows"]}
            metrics["shipped"] = describe(chosen, p.chunk, params.max_length) + (
                f"; the windowed model refit on all {len(crossfit.pool)} train+valid rows for {refit.epochs:.2f} epochs"
            )
            return {"model.current": routed_folder()}

        return Candidate(probs=judged, metrics=metrics, ship=ship)


def _fit_windows(
    ctx: StepContext, backbone: str, params: TrainParams, tokenizer: Any, data: Any, chunk: ChunkParams,
    fold: int | str, deadline: float | None, save_to: Path | None, meta: dict[str, Any], *,
    select_best: bool | None = None,
) -> Any:  # fmt: skip
    """One fine-tune on the windows of ``data``; its valid windows pooled per document by every aggregation."""
    from ratchet.chunking.aggregate import aggregate
    from ratchet.chunking.data import window_summary, window_task_data
    from ratchet.crossfit.parallel import worker_progress
    from ratchet.crossfit.results import FoldFit
    from ratchet.finetuning.finetune import finetune

    windowed = window_task_data(data, tokenizer, backbone, params.max_length, chunk.stride, chunk.cut,
                                chunk.head_share, chunk.loss)  # fmt: skip
    best = (not ctx.crossfit.crossfit) if select_best is None else select_best
    checkpoint = ctx.step_dir / f"checkpoint-{fold}"
    result = finetune(
        backbone, windowed, params, device=ctx.device, seed=ctx.seed, checkpoint_dir=checkpoint, deadline=deadline,
        save_to=save_to, save_meta=meta, cache=ctx.fit_cache, progress=worker_progress(ctx.progress),
        select_best=best, keep_model=save_to is not None and not best,
    )  # fmt: skip
    valid = windowed.valid_windows
    pooled = {how: aggregate(result.valid_probs, valid.doc, valid.n_docs, how, valid.content)
              for how in chunk.aggregations} if len(valid.doc) else {}  # fmt: skip
    info = {"fold": fold, "pooled": pooled, "windows": window_summary(windowed.train_windows),
            "steps": result.steps, "stopped_by_deadline": result.stopped_by_deadline}  # fmt: skip
    first = next(iter(pooled.values()), np.zeros((0, len(data.labels)), np.float32))
    return FoldFit(first, result.seconds, result.history, result.reused, save_to, info)


def _pooled_by_aggregation(crossfit: Any, fit: Any, aggregations: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each aggregation's probabilities laid out over the judged rows like ``fit.probs`` (folds not run: NaN)."""
    splits = {split.fold: split for split in crossfit.plan.splits()}
    out = {}
    for how in aggregations:
        probs = crossfit.empty()
        for fold in fit.folds:
            probs[crossfit.plan.positions(splits[fold.info["fold"]])] = fold.info["pooled"][how]
        out[how] = probs
    return out


def _best(scores: dict[str, float | None]) -> str:
    return max(scores, key=lambda how: scores[how] if scores[how] is not None else float("-inf"))


def _cross_chosen(
    crossfit: Any, pooled: dict[str, np.ndarray], folds: np.ndarray, metric: str
) -> tuple[np.ndarray, dict[str, str]]:
    """The candidate's judged probabilities with the pooling chosen honestly: each fold of the judged rows
    pooled by the aggregation that scores best on the other folds' rows (choosing on the rows it is then
    judged on would flatter it); -> (probabilities, fold -> aggregation)."""
    judged = crossfit.empty()
    choices: dict[str, str] = {}
    for fold in np.unique(folds):
        held = folds == fold
        others = {how: crossfit.score(np.where(held[:, None], np.nan, probs), metric) for how, probs in pooled.items()}
        choices[str(int(fold))] = how = _best(others)
        judged[held] = pooled[how][held]
    return judged, choices
