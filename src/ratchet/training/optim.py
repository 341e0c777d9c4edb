"""AdamW, the warmup + linear-decay schedule, and the classification loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, device: torch.device):
    """AdamW without decay on biases and norm weights (1-D tensors), as Hugging Face Trainer does.

    The fused kernel (CUDA and CPU) updates each parameter in one pass instead of a dozen
    elementwise passes: on CPU it cuts the optimizer step of a 22M-parameter model ~10x.
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=fused, foreach=None if fused else True)


def build_scheduler(optimizer, total_steps: int, warmup_steps: int):
    """Linear warmup from 0 to the peak rate over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def class_weights(labels: np.ndarray, num_labels: int) -> np.ndarray:
    """Inverse class frequency (scikit-learn's "balanced"): a balanced set gets weight 1 per class.

    Classes absent from training keep weight 1; they never appear as a target anyway.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels).astype(np.float64)
    present = max(int((counts > 0).sum()), 1)
    weights = np.where(counts > 0, len(labels) / (present * np.maximum(counts, 1)), 1.0)
    return weights.astype(np.float32)


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean cross-entropy: sum(w_i * loss_i) / sum(w_i), w_i = sample weight x class weight."""
    per_row = F.cross_entropy(logits.float(), labels, reduction="none", label_smoothing=label_smoothing)
    if class_weight is not None:
        weights = weights * class_weight[labels]
    return (per_row * weights).sum() / weights.sum().clamp_min(1e-12)
