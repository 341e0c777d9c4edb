"""A fine-tune that fits its time: measured speed -> epochs (or a subsample) whose schedule ends in time.

Under ``--budget`` a fine-tune planned for 5 epochs and cut by the deadline after 1.8 stops
with its learning rate still near the peak, and the epochs it never evaluated are thrown
away. Instead, before training, the real tokens/s of this model on this machine are measured
on a few batches (once per backbone and cut, for the process), and the schedule is fitted to
the time: the configured epochs when they fit; fewer epochs when not, with warmup and decay
inside them; and when not even one epoch fits, one epoch over a stratified subsample of the
rows that fits. The plan and the measured rate go into the step's manifest and the report.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAFETY = 0.85
"""Share of the measured speed counted on (evaluations, checkpoints and other processes take the rest)."""
MIN_ROWS_PER_CLASS = 8
"""A subsample smaller than this many rows per class is no fine-tune worth running."""
EVAL_COST = 1 / 3
"""An evaluation token costs about a third of a training token (forward only)."""

_RATES: dict[tuple, float] = {}


@dataclass(frozen=True)
class FitPlan:
    epochs: float
    rows: int
    """Training rows used (all of them, or a stratified subsample)."""
    rate: float
    """Measured real tokens/s of training (forward, backward, optimizer step)."""
    seconds: float
    """Time the fit had."""
    reason: str
    fits: bool = True
    """False: not even the smallest useful subsample fits; the fit should not run."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def remembered_rate(key: tuple) -> float | None:
    return _RATES.get(key)


def remember_rate(key: tuple, rate: float) -> None:
    _RATES[key] = rate


def plan_fit(
    *,
    epochs: float,
    tokens_per_epoch: int,
    rows: int,
    classes: int,
    valid_tokens: int,
    evals_per_epoch: int,
    rate: float,
    seconds: float,
) -> FitPlan:
    """The epochs (and rows) a fit of ``seconds`` can afford at ``rate`` real training tokens/s."""
    if rate <= 0 or tokens_per_epoch <= 0:
        return FitPlan(epochs, rows, rate, seconds, "no measured speed: the configured schedule")
    # One epoch of training plus its evaluations, in seconds at the measured speed.
    per_epoch = (tokens_per_epoch + evals_per_epoch * valid_tokens * EVAL_COST) / rate
    affordable = max(seconds, 0.0) * SAFETY / per_epoch
    if affordable >= epochs:
        return FitPlan(epochs, rows, rate, seconds, f"the budget affords every configured epoch ({affordable:.1f} fit)")
    if affordable >= 1.0:
        planned = math.floor(affordable * 4) / 4  # quarter epochs: the schedule warms up and decays inside them
        return FitPlan(
            planned,
            rows,
            rate,
            seconds,
            f"the budget affords {planned:.2f} of {epochs:g} epochs: warmup and decay fitted to them",
        )
    keep = int(rows * affordable)
    if keep < MIN_ROWS_PER_CLASS * classes:
        return FitPlan(
            1.0,
            keep,
            rate,
            seconds,
            f"less than {MIN_ROWS_PER_CLASS} rows per class of one epoch fit in "
            f"{seconds:.0f} s at {rate:.0f} tokens/s: no fine-tune fits the budget",
            fits=False,
        )
    return FitPlan(
        1.0,
        keep,
        rate,
        seconds,
        f"less than one epoch fits: one epoch over a stratified subsample of {keep} of {rows} rows",
    )


def stratified_subsample(labels: np.ndarray, keep: int, seed: int) -> np.ndarray:
    """``keep`` row indices, each class in its share (at least one row per class present), sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if labels.ndim == 2:  # label sets: iterative stratification keeps every label's share
        from ratchet.data.multilabel_split import iterative_parts

        if keep >= len(labels):
            return np.arange(len(labels))
        parts = iterative_parts(labels, [keep / len(labels), 1.0 - keep / len(labels)], seed)
        return np.sort(np.flatnonzero(parts == 0))
    chosen: list[np.ndarray] = []
    classes = np.unique(labels)
    for value in classes:
        members = np.flatnonzero(labels == value)
        take = max(1, round(keep * len(members) / len(labels)))
        chosen.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def measure_rate(step: Any, tokens: Any, warmup: int = 1, batches: int = 3) -> float:
    """Real tokens/s of ``step(i)`` (one training step on the i-th batch, returning its real tokens),
    timed over ``batches`` after ``warmup`` untimed ones."""
    for i in range(warmup):
        step(i)
    started, counted = time.perf_counter(), 0
    for i in range(warmup, warmup + batches):
        counted += step(i)
    return counted / max(time.perf_counter() - started, 1e-9)


class TooLittleTime(Exception):
    """Not even the smallest useful fine-tune fits the time given; the message says why (for the ledger)."""


PLAN_FILE = "plan.json"
PROBE_BATCHES = 6


def make_plan(
    model: Any,
    train: Any,
    train_labels: np.ndarray,
    valid_tokens: int,
    params: Any,
    *,
    epochs: float,
    device: str,
    seed: int,
    pad_id: int,
    deadline: float,
    checkpoint_dir: Any,
    rate_key: tuple,
    frozen_cache: Any = None,
) -> FitPlan:
    """The plan of one fine-tune of ``epochs`` (scheduled_epochs) with ``deadline``: the one saved beside its
    checkpoint (a resumed fit keeps its schedule), else one computed from the measured speed (measured once per
    ``rate_key``)."""
    import copy
    import json
    from pathlib import Path

    saved = Path(checkpoint_dir) / PLAN_FILE
    if saved.is_file():
        return FitPlan(**json.loads(saved.read_text(encoding="utf-8")))
    rate = remembered_rate(rate_key)
    if rate is None:
        from ratchet.training.loop import fit

        # A few batches on a throwaway copy: the same code path, so the same speed (frozen layers included).
        rows = stratified_subsample(train_labels, min(len(train_labels), PROBE_BATCHES * params.batch_size), seed)
        probe = dataclasses.replace(params, epochs=1.0, min_steps=0, warmup_share=0.0, checkpoint_every=10**9)
        copied = copy.deepcopy(model)
        # Twice over the same rows, timing the second pass: the first one pays one-off costs (kernels
        # built for each new batch shape), which made the plan count on 2.4x too few tokens/s on tweets.
        for attempt in ("warm", "timed"):
            measured = fit(copied, train.subset(rows), train_labels[rows], train.subset(rows[:0]),
                           train_labels[rows[:0]], probe, device=device, seed=seed,
                           checkpoint_dir=Path(checkpoint_dir) / f"probe-{attempt}", pad_id=pad_id,
                           frozen_cache=frozen_cache, select_best=False)  # fmt: skip
        rate = float(measured.telemetry.get("tokens_per_s") or 0.0)
        remember_rate(rate_key, rate)
    plan = plan_fit(
        epochs=epochs, tokens_per_epoch=int(train.lengths.sum()), rows=len(train_labels),
        classes=len(np.unique(train_labels)), valid_tokens=valid_tokens, evals_per_epoch=params.evals_per_epoch,
        rate=rate, seconds=deadline - time.time(),
    )  # fmt: skip
    saved.parent.mkdir(parents=True, exist_ok=True)
    from ratchet.fsutil import write_json

    write_json(saved, plan.as_dict())
    return plan


def scheduled_epochs(train: Any, params: Any, seed: int, device: str) -> float:
    """Epochs the fit of ``params`` on the encoded ``train`` rows makes (stretched to min_steps on small data)."""
    import torch

    from ratchet.training.batching import BatchStream
    from ratchet.training.inference import pad_multiple_for
    from ratchet.training.schedule import schedule_of

    batches = BatchStream(train.lengths, params, seed, pad_multiple_for(torch.device(device), params.compile))
    return schedule_of(params, batches.per_epoch, params.grad_accum).epochs


def schedule_in_time(
    model: Any, tokenizer: Any, backbone: str, identity: Any, train_enc: Any, train_labels: np.ndarray,
    train_weights: np.ndarray | None, valid_tokens: int, params: Any, *, device: str, seed: int,
    deadline: float, checkpoint_dir: Path, frozen_cache: Any,
) -> tuple[Any, Any, Any, np.ndarray, np.ndarray | None]:  # fmt: skip
    """Under a budget: a schedule that ends in time (fewer epochs, or a subsample), never a cut one ->
    (plan, the params it trains with, the training rows it fits: encoded, labels, weights); TooLittleTime when
    not even that fits. A shortened schedule is fixed at the plan's epochs (min_steps no longer stretches it)."""
    from ratchet.finetuning.fitcache import backbone_identity
    from ratchet.training.schedule import fixed_epochs

    rate_key = (repr(identity or backbone_identity(backbone)), params.frozen_layers, params.max_length,
                params.batch_size, params.max_tokens, device)  # fmt: skip
    scheduled = scheduled_epochs(train_enc, params, seed, device)
    plan = make_plan(model, train_enc, train_labels, valid_tokens, params, epochs=scheduled, device=device, seed=seed,
                     pad_id=tokenizer.pad_token_id or 0, deadline=deadline, checkpoint_dir=checkpoint_dir,
                     rate_key=rate_key, frozen_cache=frozen_cache)  # fmt: skip
    if not plan.fits:
        raise TooLittleTime(plan.reason)
    if plan.rows < len(train_labels) or plan.epochs < scheduled:
        params = fixed_epochs(params, plan.epochs)
    if plan.rows < len(train_labels):
        rows = stratified_subsample(train_labels, plan.rows, seed)
        train_enc, train_labels = train_enc.subset(rows), train_labels[rows]
        train_weights = None if train_weights is None else train_weights[rows]
    return plan, params, train_enc, train_labels, train_weights
