"""The training loop: one flat pass over token-budget batches, resumable to the bit.

Read top to bottom: setup (schedule, optimizer, resume), the step loop (training.steploop:
one optimizer step each, training.step: forward, backward, update; evaluation, early stopping
and checkpoints at fixed steps), then the best weights are restored. Everything the loop
does between two checkpoints is a pure function of the checkpoint, so ``kill -9`` +
resume equals an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from ratchet.config import TrainParams
from ratchet.fsutil import hash_json
from ratchet.training import checkpoint as ckpt
from ratchet.training import distributed as dist
from ratchet.training import telemetry as tm
from ratchet.training.batching import BatchStream, padding_waste
from ratchet.training.encode import Encoded
from ratchet.training.feed import Feed
from ratchet.training.frozen import StateCache, freeze_bottom
from ratchet.training.inference import pad_multiple_for, predict_probs, use_bf16
from ratchet.training.optim import build_optimizer, build_scheduler, class_weights
from ratchet.training.schedule import schedule_of
from ratchet.training.selection import choose_weights, monitor_rows, multilabel_fit_scores
from ratchet.training.state import FitResult, LoopState
from ratchet.training.step import OptimizerStep
from ratchet.training.steploop import StepLoop

log = logging.getLogger("ratchet")


def fit(
    model,
    train: Encoded,
    train_labels: np.ndarray,
    valid: Encoded,
    valid_labels: np.ndarray,
    params: TrainParams,
    *,
    device: str,
    seed: int,
    checkpoint_dir: Path,
    progress=None,
    deadline: float | None = None,
    sample_weights: np.ndarray | None = None,
    pad_id: int = 0,
    on_evaluate: Callable[[dict[str, Any]], None] | None = None,
    precision: str | None = None,
    select_best: bool = True,
    frozen_cache: StateCache | None = None,
    soft_targets: np.ndarray | None = None,
    temperature: float = 1.0,
) -> FitResult:
    """Fine-tune ``model`` in place; on return it holds the best weights (by validation macro-F1).

    ``precision``: "auto" (bf16 autocast where the hardware has native bf16), "bf16" or "fp32"; None reads
    ``params.precision`` when TrainParams has that field, else "auto".

    ``select_best=False`` (a cross-fitted fold, judged on the rows passed as ``valid``): the schedule runs
    to its end with no early stopping and the final weights are kept, so the held-out rows are watched
    (the history's curve) but never used to choose anything. An empty ``valid`` (a refit on every row)
    trains the schedule without evaluating.

    ``params.frozen_layers`` > 0: the lower layers stay pretrained and their outputs come from
    ``frozen_cache`` (filled here for rows it lacks), shared with the run's other fits (training.frozen).

    ``soft_targets`` (n_train, n_labels): distillation (compress's student) learns a teacher's probabilities,
    softened at ``temperature``, instead of ``train_labels`` (which then only weigh classes).

    ``on_evaluate(entry)`` gets each history entry once its checkpoint is written; an exception it
    raises (e.g. optuna.TrialPruned) ends training and propagates.
    """
    started = time.time()
    dev = torch.device(device)
    world, rank = dist.world_size(), dist.rank()
    checkpoint_dir = Path(checkpoint_dir)
    n_labels = int(model.config.num_labels)
    train_labels = np.asarray(train_labels, dtype=np.int64)
    valid_labels = np.asarray(valid_labels, dtype=np.int64)
    weights = np.ones(len(train), np.float32) if sample_weights is None else np.asarray(sample_weights, np.float32)
    multilabel = train_labels.ndim == 2  # label sets: sigmoid + binary cross-entropy, per-label balanced weights
    cw = torch.from_numpy(class_weights(train_labels, n_labels)).to(dev) if params.class_weighted else None
    bf16 = use_bf16(dev, precision or getattr(params, "precision", "auto"))

    # --- schedule: optimizer steps consume `group` micro-batches (grad accumulation x ranks)
    multiple = pad_multiple_for(dev, params.compile)
    stream = BatchStream(train.lengths, params, seed, multiple, train.groups)  # groups: whole documents a batch
    group = params.grad_accum * world
    schedule = schedule_of(params, stream.per_epoch, group)  # epochs, stretched to min_steps on small data
    total_steps = schedule.steps
    warmup_steps = int(params.warmup_share * total_steps)

    model.to(dev)
    model.train()
    # Frozen lower layers (one process, no compile): only the top trains, from states computed once.
    layers = getattr(params, "frozen_layers", 0)  # -1: two thirds of the layers (training.frozen)
    frozen = freeze_bottom(model, layers, frozen_cache) if world == 1 and not params.compile else None
    if frozen is not None:
        frozen.fill(train, dev, pad_id)
        frozen.fill(valid, dev, pad_id)
    optimizer = build_optimizer(model, params.learning_rate, params.weight_decay, dev)
    scheduler = build_scheduler(optimizer, total_steps, warmup_steps)
    soft = None if soft_targets is None else np.ascontiguousarray(soft_targets, dtype=np.float32)
    fingerprint = _fingerprint(params, seed, world, bf16, train, valid, select_best, soft, temperature)
    watch_valid = len(valid) > 0
    torch.manual_seed(seed + rank)  # before resuming, which restores the RNG states it saved
    state = ckpt.resume(checkpoint_dir, fingerprint, model, optimizer, scheduler)
    if state is None:
        state = LoopState(fingerprint=fingerprint)
    else:
        total_steps = scheduler.lr_lambdas[0].decay_total  # a schedule shortened for the deadline stays shortened
        log.info("resuming training at step %d/%d from %s", state.step, total_steps, checkpoint_dir)
    resumed_from_step = state.step

    train_model = _forward_model(model, frozen, world, dev, params.compile)
    feed = Feed(train, train_labels, weights, soft, frozen, pad_id, multiple, dev)
    step = OptimizerStep(train_model, model, stream, feed, optimizer, scheduler, params, group, world, rank, dev,
                         bf16, cw, temperature)  # fmt: skip

    # A large validation set is watched through a fixed stratified sample; the chosen weights get the whole set.
    # Windows scored per document are watched whole (a sample of rows would split documents).
    monitor = monitor_rows(valid_labels) if valid.groups is None else None
    evaluate = functools.partial(
        _evaluate, model if frozen is None else frozen.view, valid, valid_labels, monitor, params=params, dev=dev,
        pad_id=pad_id, bf16=bf16, batch_fn=None if frozen is None else frozen.collate, multilabel=multilabel,
    )  # fmt: skip

    def checkpoint() -> None:
        if rank == 0:
            ckpt.save_state(checkpoint_dir, model, optimizer, scheduler, dataclasses.asdict(state))
        dist.barrier()

    def save_best() -> None:
        if rank == 0:
            ckpt.save_best(checkpoint_dir, model, state.step)

    loop = StepLoop(
        state, step, evaluate, checkpoint, save_best, params, scheduler, stream.per_epoch, total_steps,
        schedule.evaluations_per_batch, deadline, dev, select_best, watch_valid, on_evaluate,
    )  # fmt: skip
    loop.run(progress)

    choose_weights(state, evaluate, model, checkpoint_dir, select_best=select_best, watch_valid=watch_valid,
                   whole_set_differs=monitor is not None, n_labels=n_labels)  # fmt: skip
    model.train(False)

    trained = loop.trained
    totals = dist.sum_over_ranks([trained.real_tokens, trained.padded_tokens, trained.samples], dev)
    telemetry = tm.fit_telemetry(
        loop.watch.total, totals, model=model, train=train, dev=dev, world=world, started=started, params=params,
        bf16=bf16, frozen_layers=0 if frozen is None else frozen.cache.cut, schedule_shortened=loop.pace.shortened,
        plan_waste=lambda: padding_waste(stream.plan(0), train.lengths, multiple),
    )  # fmt: skip
    telemetry["schedule"] = schedule.as_dict()
    return FitResult(
        valid_probs=np.asarray(state.best_probs, dtype=np.float32),
        best_score=float(state.best_score),
        history=state.history,
        telemetry=telemetry,
        steps=state.step,
        stopped_early=loop.stopped_early,
        stopped_by_deadline=loop.stopped_by_deadline,
        resumed_from_step=resumed_from_step,
    )


def _forward_model(model: torch.nn.Module, frozen, world: int, dev: torch.device, compile_it: bool):
    """What runs the training forward pass: the model (or its frozen-layer view), wrapped for DDP or compiled."""
    forward = model if frozen is None else frozen.view
    if world > 1:
        ids = [dev.index] if dev.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(forward) if compile_it else forward


def _evaluate(
    view, valid: Encoded, valid_labels: np.ndarray, monitor: np.ndarray | None, full: bool = False, *,
    params: TrainParams, dev: torch.device, pad_id: int, bf16: bool, batch_fn, multilabel: bool,
) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """Probabilities, score and loss on the validation rows (the watched sample unless ``full``), each rank
    predicting its share."""
    world, rank = dist.world_size(), dist.rank()
    data, truth = (valid, valid_labels) if full or monitor is None else (valid.subset(monitor), valid_labels[monitor])
    rows = np.arange(rank, len(data), world)
    part = predict_probs(
        view, data if world == 1 else data.subset(rows), device=dev, max_tokens=2 * params.max_tokens,
        batch_size=4 * params.batch_size, pad_id=pad_id, bf16=bf16, batch_fn=batch_fn,
    )  # fmt: skip
    probs = dist.gather_rows(part, rows, len(data))
    if multilabel:
        return probs, *multilabel_fit_scores(truth, probs)
    judged = probs
    if data.groups is not None:  # windows: scored as the documents they make up, pooled as the loss pools them
        from ratchet.training.pooling import pooled_probs

        judged, first = pooled_probs(probs, data.groups)
        truth = truth[first]
    score = float(f1_score(truth, judged.argmax(1), average="macro", zero_division=0))
    loss = float(-np.log(np.clip(judged[np.arange(len(judged)), truth], 1e-12, None)).mean())
    return probs, score, loss


def _fingerprint(
    params: TrainParams, seed: int, world: int, bf16: bool, train: Encoded, valid: Encoded, select_best: bool,
    soft: np.ndarray | None, temperature: float,
) -> str:  # fmt: skip
    """What a checkpoint must match to be resumed: the same fit, on the same rows, the same way."""
    groups = None if train.groups is None else hashlib.sha256(np.ascontiguousarray(train.groups).tobytes()).hexdigest()
    return hash_json([
        dataclasses.asdict(params), seed, world, bf16, len(train), len(valid), int(train.lengths.sum()), select_best,
        None if soft is None else [hashlib.sha256(soft.tobytes()).hexdigest(), temperature],
        *([groups] if groups is not None else []),  # a fit without groups keeps its fingerprint (and checkpoints)
    ])  # fmt: skip
