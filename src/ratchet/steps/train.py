"""train: fine-tune the chosen backbone with the chosen hyperparameters; ships model.current."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

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
    requires: ClassVar[tuple[str, ...]] = (
        "data.train", "data.valid", "data.labels", "model.backbone", "train.params", "model.baseline",
        "model.current",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    # Gated: the fine-tune is judged against the model that would ship without it (usually the TF-IDF
    # baseline). One that does not beat it is not shipped, and the ledger says so.
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.5

    def __init__(self, params: TrainStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> StepResult:
        from ratchet.models.load import load_for_classification, resolve_model_path, save_classifier
        from ratchet.training.encode import encode
        from ratchet.training.loop import fit

        backbone = resolved_backbone(ctx, self.params.model)
        if backbone == "linear":
            return ship_baseline(ctx)
        params = resolved_train_params(ctx, self.params.train)
        labels = read_labels(ctx.artifacts.get("data.labels"))
        train = read_split(ctx.artifacts.get("data.train"))
        valid = read_split(ctx.artifacts.get("data.valid"))
        # The new classification head is drawn from torch's global RNG: seed it, or two runs differ.
        torch.manual_seed(ctx.seed)
        model, tokenizer = load_for_classification(
            resolve_model_path(backbone), [str(label) for label in labels], dropout=params.dropout
        )
        train_enc = encode(tokenizer, train.texts, train.pairs, params.max_length)
        valid_enc = encode(tokenizer, valid.texts, valid.pairs, params.max_length)
        ctx.log.info("train: %s on %d rows (%d valid), device %s", backbone, len(train), len(valid), ctx.device)
        fitted = fit(
            model,
            train_enc,
            train.label_ids,
            valid_enc,
            valid.label_ids,
            params,
            device=ctx.device,
            seed=ctx.seed,
            checkpoint_dir=ctx.step_dir / "checkpoint",
            progress=ctx.progress,
            deadline=seed_deadline(ctx.deadline, self.params.seeds, time.time()),
            sample_weights=train.weights,
            pad_id=tokenizer.pad_token_id or 0,
        )
        model_dir = ctx.step_dir / "model"
        meta = {
            "kind": "transformer",
            "backbone": backbone,
            "max_length": params.max_length,
            "text_pair": train.pairs is not None,
        }
        save_classifier(model.to("cpu"), tokenizer, labels, model_dir, meta)
        metrics = {
            "backbone": backbone,
            "train_params": dataclasses.asdict(params),
            "best_valid_macro_f1": fitted.best_score,
            "steps": fitted.steps,
            "stopped_early": fitted.stopped_early,
            "stopped_by_deadline": fitted.stopped_by_deadline,
            "resumed_from_step": fitted.resumed_from_step,
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
            from ratchet.search.finetune import TaskData

            data = TaskData(train, valid, labels)
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
