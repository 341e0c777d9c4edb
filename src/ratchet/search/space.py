"""The hyperparameter search space, centered on the configured TrainParams.

Ranges are relative to the configured values (learning rate x/÷5, epochs ÷2..x2), so the
same space serves a tiny test model trained at 3e-3 and MiniLM at 5e-5. A trial's result
is a dict of TrainParams field overrides: exactly what ``train.params`` holds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ratchet.config import TrainParams

LENGTH_LADDER = (64, 128, 256, 512)
"""max_length choices; the search only offers those the data can use (see length_choices)."""
EFFECTIVE_BATCHES = (8, 16, 32, 64)


def suggest(trial: Any, base: TrainParams, length_options: list[int]) -> dict[str, Any]:
    """Sample one configuration -> TrainParams overrides (only fields that TrainParams has)."""
    lr = base.learning_rate
    out: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", lr / 5, lr * 5, log=True),
        "epochs": float(trial.suggest_int("epochs", *epoch_range(base.epochs))),
        "warmup_share": trial.suggest_float("warmup_share", 0.0, 0.2),
        "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "class_weighted": trial.suggest_categorical("class_weighted", [False, True]),
    }
    # Effective batch = micro-batch x accumulation; the configured batch_size stays the memory cap.
    effective = trial.suggest_categorical("effective_batch_size", list(EFFECTIVE_BATCHES))
    out["batch_size"] = min(effective, base.batch_size)
    out["grad_accum"] = max(1, effective // out["batch_size"])
    max_length = trial.suggest_categorical("max_length", length_options)
    out["max_length"] = int(max_length)
    out["max_tokens"] = max(base.max_tokens, int(max_length))
    return out


def epoch_range(epochs: float) -> tuple[int, int]:
    low = max(1, round(epochs / 2))
    return low, max(low + 1, round(epochs * 2))


def length_choices(token_lengths: np.ndarray, base_max_length: int, model_max: int) -> list[int]:
    """Ladder rungs up to the first that holds 99% of the texts whole (longer ones only add padding).

    The configured max_length is kept when it fits the model, so the search can keep the default.
    """
    limit = min(model_max, 512)
    p99 = float(np.percentile(token_lengths, 99)) if len(token_lengths) else 0.0
    options: list[int] = []
    for length in LENGTH_LADDER:
        if length > limit:
            break
        options.append(length)
        if length >= p99:
            break
    if base_max_length <= limit and base_max_length not in options and base_max_length < max(options or [0]):
        options.append(base_max_length)
    return sorted(options) or [min(base_max_length, limit)]


def apply(base: TrainParams, overrides: dict[str, Any]) -> TrainParams:
    """A trial's recipe; a trial's epochs scale the min_steps floor alike (training.schedule.with_epochs), so that
    on small data the epochs searched still differ in length."""
    from ratchet.training.schedule import with_epochs

    known = {f.name for f in dataclasses.fields(TrainParams)}
    if "epochs" in overrides:
        base = with_epochs(base, overrides["epochs"])
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if k in known and k != "epochs"})
