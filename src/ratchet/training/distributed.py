"""The few collective operations the loop needs; all of them are no-ops in a single process.

Data parallelism itself is torch's DistributedDataParallel; this module only answers
"who am I" and keeps decisions (evaluation results, stopping) identical on every rank.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any (e.g. one rank passed the deadline)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    if world_size() == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_rows(part: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Assemble per-rank results (``part[i]`` belongs to row ``rows[i]``) into one array on every rank."""
    if world_size() == 1:
        return part
    pieces: list = [None] * world_size()
    dist.all_gather_object(pieces, (rows, part))
    out = np.empty((n_rows, *part.shape[1:]), dtype=part.dtype)
    for piece_rows, piece in pieces:
        out[piece_rows] = piece
    return out


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
