"""One micro-batch of training rows as the model's inputs and the loss's targets, on the device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ratchet.training.batching import collate, to_device
from ratchet.training.encode import Encoded
from ratchet.training.frozen import FrozenBottom


@dataclass
class MicroBatch:
    inputs: dict[str, torch.Tensor]
    """What the model reads: token ids and mask, or (frozen layers) the cached states."""
    labels: torch.Tensor
    weights: torch.Tensor
    soft: torch.Tensor | None
    """A teacher's probabilities (distillation), else None."""
    real_tokens: int
    padded_tokens: int
    """Positions computed, padding included (for the padding-waste telemetry)."""
    documents: torch.Tensor | None = None
    """Each row's document within the batch (0..k-1) when the loss is taken per document (training.pooling);
    ``labels``, ``weights`` and ``soft`` are then per document, from its first row."""


@dataclass(frozen=True)
class Feed:
    train: Encoded
    labels: np.ndarray
    weights: np.ndarray
    soft: np.ndarray | None
    frozen: FrozenBottom | None
    pad_id: int
    multiple: int
    """Sequence lengths are padded to a multiple of this (compiled or GPU kernels prefer it)."""
    device: torch.device

    def __call__(self, rows: np.ndarray) -> MicroBatch:
        if self.frozen is None:
            batch = collate(self.train, rows, self.pad_id, self.multiple, skip_full_mask=True)
        else:
            batch = self.frozen.collate(self.train, rows)
        targets = rows
        if self.train.groups is not None:  # one target per document, taken from its first row
            from ratchet.training.pooling import batch_groups

            local, first = batch_groups(self.train.groups[rows])
            batch["documents"] = torch.from_numpy(local)
            targets = rows[first]
        batch["labels"] = torch.from_numpy(self.labels[targets])
        batch["weights"] = torch.from_numpy(self.weights[targets])
        if self.soft is not None:
            batch["soft"] = torch.from_numpy(self.soft[targets])
        inputs = to_device(batch, self.device)
        labels, weights, soft = inputs.pop("labels"), inputs.pop("weights"), inputs.pop("soft", None)
        documents = inputs.pop("documents", None)
        positions = inputs["input_ids"] if self.frozen is None else inputs["inputs_embeds"][..., 0]
        real = int(self.train.lengths[rows].sum())
        return MicroBatch(inputs, labels, weights, soft, real_tokens=real, padded_tokens=positions.numel(),
                          documents=documents)  # fmt: skip
