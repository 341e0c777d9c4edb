"""train (gated): fine-tune the chosen backbone with the chosen hyperparameters; ships model.current if kept.

Judged against the model that would ship without it (usually the TF-IDF baseline): a
fine-tune that does not beat it is not shipped, and the ledger says so. Holdout plan: one
fine-tune on the train rows, early-stopped on the valid rows it is judged on; that model
ships. Cross-fitted plan: one fine-tune per fold, each judged on its held-out fold with its
final weights; if kept, the same recipe is refit on every train+valid row for as many
epochs as the folds' curves peaked at, and that refit ships. When select picked the few-shot
candidate, the same shapes apply to a few-shot fit (ratchet.fewshot.shipping).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ratchet.config import TrainParams
from ratchet.models.recipe_meta import KEY, best_epoch, recipe, set_epochs
from ratchet.step import Candidate, Completed, Outcome, Skipped, StepContext


@dataclass(frozen=True)
class TrainStepParams:
    model: str
    """Backbone used when no earlier step (select, adapt) provided model.backbone."""
    train: TrainParams = field(default_factory=TrainParams)
    ship: str = "refit"
    """Cross-fitted runs: "refit" (the recipe refit on every train+valid row) or "folds" (the fold models as an
    ensemble: no refit, but no row is held out from it either, so its only estimate is the sealed test)."""
    keep_folds: bool = False
    """Cross-fitted runs: keep each fold's model and provide them as model.folds (compress judges a lighter
    version of the shipped model through them, on the same out-of-fold rows)."""


class TrainStep:
    name: ClassVar[str] = "train"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "data.cleaning", "model.backbone", "train.params", "model.baseline", "model.current",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current", "model.folds")
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.5

    def __init__(self, params: TrainStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        backbone = resolved_backbone(ctx, self.params.model)
        if backbone == "linear":
            return ship_baseline(ctx)
        from ratchet.fewshot.shipping import picked_fewshot, train_fewshot

        fewshot = picked_fewshot(ctx.artifacts.maybe("model.backbone"))
        if fewshot is not None:  # select's few-shot candidate won: fit and ship it (search found no params for it)
            return train_fewshot(ctx, backbone, fewshot, ship=self.params.ship, keep_folds=self.params.keep_folds)
        params = resolved_train_params(ctx, self.params.train)
        crossfit = ctx.crossfit
        data = crossfit.holdout
        ctx.log.info(
            "train: %s on %d + %d rows (%s), device %s", backbone, len(data.train), len(data.valid),
            f"{crossfit.plan.k} folds" if crossfit.crossfit else "holdout", ctx.device,
        )  # fmt: skip
        model_dir = ctx.step_dir / "model"
        meta = transformer_meta(ctx, backbone, params)
        # select, search or adapt may already have fine-tuned exactly this (same backbone, parameters, data
        # and seed, fold by fold): the run's fit cache then hands it over instead of training it again.
        ship_folds_only = crossfit.crossfit and self.params.ship == "folds"
        folds_dir = (
            ctx.step_dir / "folds" if crossfit.crossfit and (ship_folds_only or self.params.keep_folds) else None
        )
        fit = crossfit.transformer(backbone, params, seed=ctx.seed, name="train", holdout_model_dir=model_dir,
                                   meta=meta, fold_models=folds_dir, refit_reserve=not ship_folds_only)  # fmt: skip
        if not fit.folds:
            return Skipped(f"no fine-tune fits the time budget: {fit.note}", {"crossfit": fit.summary()})
        metrics: dict[str, Any] = {
            "backbone": backbone,
            "train_params": dataclasses.asdict(params),
            "crossfit": fit.summary(),
            **fold_metrics(fit),
            "best_valid_macro_f1": crossfit.score(fit.probs),
        }
        if not crossfit.crossfit:
            set_epochs(model_dir, best_epoch(fit.folds[0].history) if fit.folds else None)
            return Candidate(probs=fit.probs, provides={"model.current": model_dir}, metrics=metrics)
        if ship_folds_only:
            return Candidate(probs=fit.probs, metrics=metrics, ship=lambda: ship_folds(ctx, fit, folds_dir, metrics))
        metrics["refit_epochs"] = fit.refit_params(params).epochs

        def ship() -> dict[str, Path]:
            refit_finetune(ctx, fit, backbone, params, model_dir, metrics)
            return refit_provides(model_dir, folds_dir, fit.k)

        return Candidate(probs=fit.probs, metrics=metrics, ship=ship)


def transformer_meta(ctx: StepContext, backbone: str, params: TrainParams) -> dict[str, Any]:
    """ratchet.json of a fine-tune of ``backbone`` with ``params`` on the run's data."""
    text_pair = ctx.crossfit.holdout.train.pairs is not None
    return {"kind": "transformer", "backbone": backbone, "max_length": params.max_length,
            "text_pair": text_pair, KEY: recipe(backbone, params, ctx.seed)}  # fmt: skip


def refit_finetune(
    ctx: StepContext, fit: Any, backbone: str, params: TrainParams, model_dir: Path, metrics: dict[str, Any]
) -> None:
    """The shipped model of a cross-fitted fine-tune: the recipe refit on every train+valid row for the epochs at
    which ``fit``'s folds peaked, saved to ``model_dir``; ``metrics`` records the refit and what ships."""
    crossfit = ctx.crossfit
    refit = fit.refit_params(params)
    epochs = refit.epochs
    meta = transformer_meta(ctx, backbone, refit)
    metrics["refit"] = crossfit.refit_transformer(backbone, refit, seed=ctx.seed, out_dir=model_dir, meta=meta)
    metrics["shipped"] = (
        f"the same fine-tune refit on all {len(crossfit.pool)} train+valid rows for {epochs:.2f} epochs; "
        f"its estimate is the out-of-fold one of {len(fit.folds)} fold models"
    )


def ship_folds(ctx: StepContext, fit: Any, folds_dir: Path, metrics: dict[str, Any]) -> dict[str, Path]:
    """gate.ship=folds: the fold models, as they are, averaged as one ensemble model."""
    from ratchet.models.ensemble import save_ensemble

    out = ctx.step_dir / "ensemble"
    save_ensemble([folds_dir / f"fold-{i}" for i in range(len(fit.folds))], out)
    metrics["shipped"] = (
        f"the {len(fit.folds)} fold models averaged (gate.ship=folds, no refit); the out-of-fold estimate belongs "
        "to each fold model alone, so the ensemble's only estimate is the sealed test"
    )
    return {"model.current": out}


def refit_provides(model_dir: Path, folds_dir: Path | None, k: int) -> dict[str, Path]:
    """What a shipped refit provides: the refit model, and the fold models kept beside it (compress reads them)."""
    if folds_dir is None:
        return {"model.current": model_dir}
    ran = [i for i in range(k) if (folds_dir / f"fold-{i}" / "ratchet.json").is_file()]
    return {"model.current": model_dir, "model.folds": fold_models_of(model_dir, folds_dir, ran)}


def fold_models_of(model_dir: Path, folds_dir: Path, folds: list[int]) -> Path:
    """Mark ``folds_dir`` (fold-<i>/ for each of ``folds``) as the fold models of the shipped ``model_dir``."""
    import os

    from ratchet.fsutil import write_json

    # Relative, so that a run folder moved or copied elsewhere keeps the link.
    model = os.path.relpath(Path(model_dir).resolve(), Path(folds_dir).resolve())
    write_json(folds_dir / "folds.json", {"model": model, "folds": list(folds)})
    return folds_dir


def fold_metrics(fit: Any) -> dict[str, Any]:
    """What the report's training section reads: the first fold's history and telemetry, every fold's curve."""
    first = fit.folds[0] if fit.folds else None
    if first is None:
        return {}
    return {
        "steps": first.info.get("steps"),
        "stopped_by_deadline": any(f.info.get("stopped_by_deadline") for f in fit.folds),
        "resumed_from_step": first.info.get("resumed_from_step", 0),
        "reused_fit": all(f.reused for f in fit.folds),
        "history": first.history,
        "fold_histories": [f.history for f in fit.folds[1:]],
        "telemetry": first.info.get("telemetry", {}),
        "plan": first.info.get("plan"),
    }


def ship_baseline(ctx: StepContext) -> Completed:
    """select found no transformer better than the TF-IDF baseline: ship the baseline as it is."""
    from ratchet.errors import RatchetError

    model_dir = ctx.artifacts.maybe("model.baseline")
    if model_dir is None:
        raise RatchetError("the backbone is 'linear' but no baseline step ran: add baseline to the steps")
    metrics = {"backbone": "linear", "shipped": "the baseline model, unchanged"}
    return Completed(provides={"model.current": Path(model_dir)}, metrics=metrics)


def resolved_backbone(ctx: StepContext, default: str) -> str:
    path = ctx.artifacts.maybe("model.backbone")
    return default if path is None else str(json.loads(Path(path).read_text())["model"])


def resolved_train_params(ctx: StepContext, default: TrainParams) -> TrainParams:
    """Hyperparameters found by ``search`` (if it ran and was kept) override the configured ones."""
    path = ctx.artifacts.maybe("train.params")
    if path is None:
        return default
    found = json.loads(Path(path).read_text())
    return dataclasses.replace(default, **found)
