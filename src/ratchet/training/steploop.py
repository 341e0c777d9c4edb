"""The step loop of a fit: optimizer steps until the schedule ends, patience runs out or the deadline
passes, with evaluation, early stopping and checkpoints at fixed steps.

``training.loop.fit`` builds its collaborators (the optimizer step, the evaluation, the checkpoint
writers) and reads the outcome: the loop state, the stopping flags, the training time and throughput.
Everything the loop does between two checkpoints is a pure function of the checkpoint, so ``kill -9``
and a resume train the same steps as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ratchet.config import TrainParams
from ratchet.training import distributed as dist
from ratchet.training import telemetry as tm
from ratchet.training.pacing import DeadlinePace
from ratchet.training.selection import note_evaluation
from ratchet.training.state import LoopState
from ratchet.training.step import OptimizerStep


@dataclass
class StepLoop:
    state: LoopState
    step: OptimizerStep
    evaluate: Callable[[], tuple[np.ndarray, float, float]]
    """Probabilities, score and loss on the watched validation rows."""
    checkpoint: Callable[[], None]
    save_best: Callable[[], None]
    """Keep the current weights as the best so far (rank 0 writes)."""
    params: TrainParams
    scheduler: Any
    per_epoch: int
    """Micro-batches in one epoch."""
    total_steps: int
    evaluations_per_batch: float
    """Validation evaluations per micro-batch (training.schedule: spread over a stretched schedule alike)."""
    deadline: float | None
    dev: torch.device
    select_best: bool
    watch_valid: bool
    on_evaluate: Callable[[dict[str, Any]], None] | None
    stopped_by_deadline: bool = False
    trained: tm.Throughput = field(default_factory=tm.Throughput)

    def __post_init__(self) -> None:
        self.world, self.rank, self.group = self.step.world, self.step.rank, self.step.group
        self.watch = tm.Stopwatch(self.dev)  # training time only: evaluation and checkpoint writes are left out
        self.loss_acc = torch.zeros((), device=self.dev)  # summed on the device: read only every log_every steps
        self.loss_acc += self.state.loss_sum
        self.stopped_early = self.select_best and self.state.bad_evals >= self.params.patience
        # ranks would have to agree on a shortened schedule: one process only
        self.pace = DeadlinePace(self.deadline if self.world == 1 else None, self.state.step)
        self.shown: dict[str, Any] = {"loss": None, "tok_s": None, "epoch": 0.0}

    def run(self, progress=None) -> None:
        tm.reset_cuda_peak(self.dev)
        bar_cm = None
        if progress is not None and self.rank == 0:
            bar_cm = progress.bar("train", total=self.total_steps, **self.shown)
        with bar_cm if bar_cm is not None else contextlib.nullcontext() as bar:
            if bar is not None and self.state.step:
                bar.advance(self.state.step)
            self.watch.start()
            while self.state.step < self.total_steps and not self.stopped_early:
                if self._past_deadline():
                    self.stopped_by_deadline = True
                    break
                self.total_steps = self.pace.keep_in_time(
                    self.scheduler.lr_lambdas[0], self.state.step, self.total_steps
                )
                self.step(self.state, self.loss_acc, self.trained)
                epoch = self.state.step * self.group / self.per_epoch
                if bar is not None:
                    self._advance(bar, epoch)
                if self.watch_valid and (self._evaluation_due() or self.state.step == self.total_steps):
                    self._paused(self._evaluate, epoch)
                elif self.state.step % self.params.checkpoint_every == 0:
                    self._paused(self._checkpoint_between_evaluations)
            self.watch.stop()

    def _past_deadline(self) -> bool:
        check_now = self.world == 1 or self.state.step % self.params.log_every == 0  # ranks agree on the step
        return check_now and self.deadline is not None and dist.any_rank(time.time() > self.deadline, self.dev)

    def _evaluation_due(self) -> bool:
        done = self.state.step * self.group
        at = self.evaluations_per_batch  # + 1e-9: 15 x (4/30) is 1.9999999999999998 in floating point
        return math.floor(done * at + 1e-9) > math.floor((done - self.group) * at + 1e-9)

    def _paused(self, work: Callable[..., None], *args: Any) -> None:
        """``work`` off the training clock."""
        self.watch.stop()
        work(*args)
        self.watch.start()

    def _evaluate(self, epoch: float) -> None:
        state = self.state
        probs, score, valid_loss = self.evaluate()
        self._close_window(epoch, score, valid_loss)
        if note_evaluation(state, score, probs, select_best=self.select_best):
            self.save_best()
        self.stopped_early = self.select_best and state.bad_evals >= self.params.patience
        self.checkpoint()
        if self.on_evaluate is not None:
            self.on_evaluate(dict(state.history[-1]))

    def _checkpoint_between_evaluations(self) -> None:
        self.state.loss_sum = float(self.loss_acc.item())
        self.checkpoint()

    def _close_window(self, epoch: float, score: float, valid_loss: float) -> None:
        """The evaluation window's history entry (losses and rates summed over ranks); the next window starts
        empty."""
        state = self.state
        loss_total, loss_count = dist.sum_over_ranks([float(self.loss_acc.item()), state.loss_count], self.dev)
        tokens_per_s, samples_per_s = self.trained.rates(self.world)
        state.history.append({
            "step": state.step, "epoch": round(epoch, 4), "train_loss": loss_total / max(loss_count, 1),
            "valid_macro_f1": score, "valid_loss": valid_loss, "tokens_per_s": tokens_per_s,
            "samples_per_s": samples_per_s, "lr": float(self.scheduler.get_last_lr()[0]),
        })  # fmt: skip
        self.trained.new_window()
        self.loss_acc.zero_()
        state.loss_sum, state.loss_count, state.last_eval_step = 0.0, 0, state.step

    def _advance(self, bar, epoch: float) -> None:
        """One step on the progress bar; loss and rate are read every ``log_every`` steps, the only host-device
        sync between evaluations. Every field goes on each call: the bar shows the fields of its last call only."""
        shown, state = self.shown, self.state
        shown["epoch"] = round(epoch, 2)
        if state.step % self.params.log_every == 0:
            shown["loss"] = round(self.loss_acc.item() / max(state.loss_count, 1), 4)
            shown["tok_s"] = int(self.trained.rates(self.world)[0])
        bar.advance(1, **shown)
