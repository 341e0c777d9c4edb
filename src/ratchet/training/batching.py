"""Token-budget batches from length-sorted rows: little padding, bounded memory, reproducible order.

A batch holds rows of nearly equal length, at most ``batch_size`` of them and at most
``max_tokens`` padded tokens, so short texts are never padded to the length of long
ones. The plan for an epoch is a pure function of (lengths, seed, epoch): a resumed
run replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ratchet.training.encode import Encoded

if TYPE_CHECKING:
    from ratchet.config import AdaptParams, TrainParams


def padded_length(length: int, multiple: int, cap: int) -> int:
    """Round up to ``multiple`` (fewer distinct shapes for torch.compile, tensor-core friendly), never past ``cap``."""
    return min(-(-length // multiple) * multiple, cap) if multiple > 1 else length


def plan_batches(
    lengths: np.ndarray,
    *,
    max_tokens: int,
    batch_size: int,
    seed: int | None = None,
    epoch: int = 0,
    pad_multiple: int = 1,
) -> list[np.ndarray]:
    """Row indices of each batch. ``seed=None``: sorted order, no shuffling (inference).

    With a seed, rows of equal length are ordered randomly before packing (so batch
    contents vary between epochs) and the batch order is shuffled; both depend only on
    (seed, epoch).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    rng = None if seed is None else np.random.default_rng([seed, epoch])
    order = np.argsort(lengths, kind="stable")
    if rng is not None:
        perm = rng.permutation(n)
        order = perm[np.argsort(lengths[perm], kind="stable")]
    cap = int(lengths.max())
    batches: list[np.ndarray] = []
    start = 0
    sorted_lengths = lengths[order].tolist()  # plain ints: this loop runs once per row
    for i in range(1, n + 1):
        # Rows are ascending in length, so the batch's padded width is that of its newest row.
        if i < n:
            width = padded_length(sorted_lengths[i], pad_multiple, cap)
            count = i - start + 1
            if count <= batch_size and count * width <= max_tokens:
                continue
        batches.append(order[start:i])
        start = i
    if rng is not None:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches


CPU_BATCH_COST_TOKENS = 64
"""What one more batch costs on a CPU, in padded tokens' worth of work (launching a forward pass: kernels,
allocations, Python): the price a length-aware split of a few rows pays per batch. Measured on 2 cores: 64
texts of TREC questions (13 tokens on average, padded to about 30 in one batch) ran 1.6-1.9x faster split
(onnxruntime int8 and fp32 alike, PyTorch 2x and more) at 16-128; too low makes many tiny batches."""


def inference_batches(
    lengths: np.ndarray, *, max_tokens: int, batch_size: int, batch_cost: float = CPU_BATCH_COST_TOKENS
) -> list[np.ndarray]:
    """Row indices of each batch for inference on a CPU: the split of the length-sorted rows that costs least,
    where a batch costs ``batch_cost`` plus its padded tokens (rows x longest row), within ``batch_size`` rows
    and ``max_tokens`` padded tokens (a longer row alone is a batch of its own).

    ``plan_batches`` fills each batch before the next: right for many rows, where each full batch holds rows
    of nearly one length, but a call with few rows (a server's batch, a user's 64 texts) becomes one batch
    padded to its longest text. Here short texts are not padded to the length of long ones whatever the
    number of rows. Exact (dynamic programming over the sorted rows); its cost is small beside the model's.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    order = np.argsort(lengths, kind="stable")
    widths = lengths[order]
    best = np.zeros(n + 1)  # best[j]: the least cost of the first j sorted rows
    start_of = np.zeros(n + 1, dtype=np.int64)  # where the last batch of that split starts
    for end in range(1, n + 1):
        width = int(widths[end - 1])  # the batch's padded width: its last (longest) row
        most = max(1, min(batch_size, max_tokens // max(width, 1)))
        starts = np.arange(max(0, end - most), end)
        costs = best[starts] + batch_cost + (end - starts) * width
        pick = int(np.argmin(costs))
        best[end], start_of[end] = costs[pick], starts[pick]
    batches, end = [], n
    while end > 0:
        batches.append(order[start_of[end] : end])
        end = int(start_of[end])
    return batches[::-1]


def padding_waste(batches: list[np.ndarray], lengths: np.ndarray, pad_multiple: int = 1) -> float:
    """Share of padded tokens that are padding (0 = none wasted)."""
    if not batches:
        return 0.0
    cap = int(np.max(lengths))
    real = sum(int(lengths[rows].sum()) for rows in batches)
    padded = sum(len(rows) * padded_length(int(lengths[rows].max()), pad_multiple, cap) for rows in batches)
    return 1.0 - real / padded if padded else 0.0


def collate(
    encoded: Encoded, rows: np.ndarray, pad_id: int, pad_multiple: int = 1, *, skip_full_mask: bool = False
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids`` + ``attention_mask`` (+ ``token_type_ids``) for ``rows``, on the CPU.

    ``skip_full_mask``: leave the mask out when no row of the batch is padded (common once rows
    are length-sorted): attention then runs the unmasked SDPA kernel, and no mask is built,
    copied or checked. Only for callers that feed the batch straight to a Hugging Face model.
    """
    lengths = encoded.lengths[rows]
    width = padded_length(int(lengths.max()), pad_multiple, int(encoded.lengths.max()))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : lengths[i]] = encoded.input_ids[row]
    batch = {"input_ids": torch.from_numpy(ids)}
    if not skip_full_mask or int(lengths.min()) < width:
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        batch["attention_mask"] = torch.from_numpy(mask)
    if encoded.token_type_ids is not None:
        types = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            types[i, : lengths[i]] = encoded.token_type_ids[row]
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Pinned host memory + non-blocking copy on CUDA, so the copy overlaps with running kernels."""
    if device.type != "cuda":
        return batch
    return {key: value.pin_memory().to(device, non_blocking=True) for key, value in batch.items()}


class BatchStream:
    """The batches of the training loop (and of continued pretraining): micro-batch ``m`` of the endless
    stream epoch 0, epoch 1, ... (``params`` gives max_tokens and batch_size).

    An epoch's plan depends on (seed, epoch) only, so a resumed loop finds its place by ``m``.
    ``groups`` (each row's document, Encoded.groups): every document's rows go in one batch (training.pooling).
    """

    def __init__(
        self, lengths: np.ndarray, params: TrainParams | AdaptParams, seed: int, pad_multiple: int,
        groups: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        self.lengths, self.params, self.seed, self.pad_multiple = lengths, params, seed, pad_multiple
        self.groups = groups
        self._plans: dict[int, list[np.ndarray]] = {}
        self.per_epoch = len(self.plan(0))

    def plan(self, epoch: int) -> list[np.ndarray]:
        if epoch not in self._plans:
            budget = {"max_tokens": self.params.max_tokens, "batch_size": self.params.batch_size, "seed": self.seed,
                      "epoch": epoch, "pad_multiple": self.pad_multiple}  # fmt: skip
            if self.groups is None:
                self._plans = {epoch: plan_batches(self.lengths, **budget)}
            else:
                from ratchet.training.pooling import plan_document_batches

                self._plans = {epoch: plan_document_batches(self.lengths, self.groups, **budget)}
        return self._plans[epoch]

    def rows(self, m: int) -> np.ndarray:
        epoch, position = divmod(m, self.per_epoch)
        return self.plan(epoch)[position]
