"""train: fine-tune the chosen backbone with the chosen hyperparameters; ships model.current."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ratchet.config import GateParams, TrainParams
from ratchet.data.frames import read_labels, read_split
from ratchet.pipeline import StepContext, StepResult
from ratchet.search.ensemble import seed_deadline


@dataclass(frozen=True)
class TrainStepParams:
    model: str
    """Backbone used when no earlier step (select, adapt) provided model.backbone."""
    train: TrainParams = field(default_factory=TrainParams)
    seeds: int = 1
    """Fine-tunes with seeds seed, seed+1, ...; the first ships, the spread is recorded."""
    ensemble: bool = False
    """Ship the seeds' averaged probabilities if the ratchet rule (``gate``) prefers them to the first seed."""
    gate: GateParams = field(default_factory=GateParams)


class TrainStep:
    name: ClassVar[str] = "train"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ("model.backbone", "train.params", "model.baseline", "model.current")
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    # Gated: the fine-tune is judged against the model that would ship without it (usually the TF-IDF
    # baseline). One that does not beat it is not shipped, and the ledger says so.
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.5

    def __init__(self, params: TrainStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> StepResult:
        from ratchet.search.finetune import TaskData, finetune
        from ratchet.search.fitcache import FitCache

        backbone = resolved_backbone(ctx, self.params.model)
        if backbone == "linear":
            return ship_baseline(ctx)
        params = resolved_train_params(ctx, self.params.train)
        labels = read_labels(ctx.artifacts.get("data.labels"))
        train_path, valid_path = ctx.artifacts.get("data.train"), ctx.artifacts.get("data.valid")
        train, valid = read_split(train_path), read_split(valid_path)
        ctx.log.info("train: %s on %d rows (%d valid), device %s", backbone, len(train), len(valid), ctx.device)
        model_dir = ctx.step_dir / "model"
        meta = {
            "kind": "transformer",
            "backbone": backbone,
            "max_length": params.max_length,
            "text_pair": train.pairs is not None,
        }
        # select or search may already have fine-tuned exactly this (same backbone, parameters, data
        # and seed) and kept the model: then it is reused, not trained a second time.
        cache = FitCache.for_run(ctx.run_dir, train_path, valid_path, ctx.device, self.params.train)
        data = TaskData(train, valid, labels)
        fitted = finetune(
            backbone, data, params, device=ctx.device, seed=ctx.seed, checkpoint_dir=ctx.step_dir / "checkpoint",
            deadline=seed_deadline(ctx.deadline, self.params.seeds, time.time()), save_to=model_dir,
            save_meta=meta, cache=cache, progress=ctx.progress,
        )  # fmt: skip
        if fitted.reused:
            ctx.log.info("train: reused an identical fine-tune from earlier in the run (%s)", cache.root)
        metrics = {
            "backbone": backbone,
            "train_params": dataclasses.asdict(params),
            "best_valid_macro_f1": fitted.best_score,
            "steps": fitted.steps,
            "stopped_early": fitted.stopped_early,
            "stopped_by_deadline": fitted.stopped_by_deadline,
            "resumed_from_step": fitted.resumed_from_step,
            "reused_fit": fitted.reused,
            "history": fitted.history,
            "telemetry": fitted.telemetry,
        }
        result = StepResult(
            provides={"model.current": model_dir},
            metrics=metrics,
            valid_probs=fitted.valid_probs,
            reference_probs=shipped_model_probs(ctx, valid),
            judge_against_incumbent=False,
        )
        if self.params.seeds > 1:
            from ratchet.search.ensemble import finish_seeds

            return finish_seeds(
                ctx, result, backbone=backbone, params=params, data=data, meta=meta, n_seeds=self.params.seeds,
                ensemble=self.params.ensemble, gate=self.params.gate,
            )  # fmt: skip
        return result


def ship_baseline(ctx: StepContext) -> StepResult:
    """select found no transformer better than the TF-IDF baseline: ship the baseline as it is."""
    from ratchet.errors import RatchetError
    from ratchet.predictor import load_predictor

    model_dir = ctx.artifacts.maybe("model.baseline")
    if model_dir is None:
        raise RatchetError("the backbone is 'linear' but no baseline step ran: add baseline to the steps")
    valid = read_split(ctx.artifacts.get("data.valid"))
    probs = load_predictor(model_dir).predict_probs(valid.texts, valid.pairs)
    metrics = {"backbone": "linear", "shipped": "the baseline model, unchanged"}
    return StepResult(
        provides={"model.current": Path(model_dir)}, metrics=metrics, valid_probs=probs, judge_against_incumbent=False
    )


def shipped_model_probs(ctx: StepContext, valid) -> np.ndarray | None:
    """Validation probabilities of the model that ships if this fine-tune is rejected (None: nothing ships)."""
    from ratchet.predictor import load_predictor

    current = ctx.artifacts.maybe("model.current")
    if current is None:
        return None
    return load_predictor(current, device=ctx.device).predict_probs(valid.texts, valid.pairs)


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
