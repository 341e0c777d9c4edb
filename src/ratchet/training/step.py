"""One optimizer step of the training loop: ``group`` micro-batches forward and backward, then the update.

``group`` is gradient accumulation x ranks: each rank takes every ``world``-th micro-batch of the
step, and only the last accumulated one synchronises gradients across ranks (DDP's ``no_sync``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import torch

from ratchet.config import TrainParams
from ratchet.training.batching import BatchStream
from ratchet.training.feed import Feed
from ratchet.training.inference import autocast
from ratchet.training.optim import classification_loss
from ratchet.training.pooling import pooled_logits
from ratchet.training.state import LoopState
from ratchet.training.telemetry import Throughput


@dataclasses.dataclass(frozen=True)
class OptimizerStep:
    train_model: Any  # what runs forward: the model, its frozen-layer view, DDP or compiled wrapper
    model: torch.nn.Module  # whose parameters are clipped
    stream: BatchStream
    feed: Feed
    optimizer: torch.optim.Optimizer
    scheduler: Any
    params: TrainParams
    group: int
    world: int
    rank: int
    dev: torch.device
    bf16: bool
    class_weight: torch.Tensor | None
    temperature: float

    def __call__(self, state: LoopState, loss_sum: torch.Tensor, trained: Throughput) -> None:
        """Train one step from ``state.step`` and advance it; the loss is summed on the device into
        ``loss_sum`` (reading it would sync host and device, so the loop reads it at log points only)."""
        accum = self.params.grad_accum
        for j in range(accum):
            rows = self.stream.rows(state.step * self.group + j * self.world + self.rank)
            micro = self.feed(rows)
            sync = j == accum - 1 or self.world == 1
            with contextlib.nullcontext() if sync else self.train_model.no_sync(), autocast(self.dev, self.bf16):
                logits = self.train_model(**micro.inputs).logits
                if micro.documents is not None:  # the loss of each document on its windows' mean logits
                    logits = pooled_logits(logits, micro.documents, len(micro.labels))
                loss = classification_loss(
                    logits, micro.labels, micro.weights, label_smoothing=self.params.label_smoothing,
                    class_weight=self.class_weight, soft_targets=micro.soft, temperature=self.temperature,
                )  # fmt: skip
                (loss / accum).backward()
            loss_sum += loss.detach()
            state.loss_count += 1
            trained.add(micro.real_tokens, micro.padded_tokens, len(rows))
        if self.params.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.params.grad_clip, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
