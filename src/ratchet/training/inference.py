"""Batched inference: length-sorted token-budget batches (on a CPU the cheapest split), one at a time, input order
restored."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

from ratchet.errors import RatchetError
from ratchet.training.batching import collate, inference_batches, plan_batches, to_device
from ratchet.training.encode import Encoded
from ratchet.training.telemetry import cpu_has_native_bf16

FLUSH_EVERY = 32
"""Batches whose probabilities stay on the device before one copy to the host (one sync per flush)."""


PRECISION_ENV = "RATCHET_PRECISION"
"""Environment variable that settles every "auto" precision (training and prediction): fp32 or bf16."""


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """ "auto": bf16 where the hardware computes it natively, else fp32; "bf16" / "fp32" force the choice.

    Native means CUDA with bf16 support, or a CPU with AVX512-BF16 or AMX: there bf16 autocast
    trained the default model 1.43x faster than fp32 on 2 cores with the same validation accuracy
    and macro-F1 (benchmarks/throughput.py). Elsewhere bf16 is emulated and slower than fp32.
    RATCHET_PRECISION=fp32 (or bf16) settles "auto" everywhere, prediction included: on a bf16 machine,
    fp32 predictions match an fp32 ONNX export to 1e-5 where bf16 ones differ by about 1e-3.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"unknown precision {precision!r}: use auto, bf16 or fp32")
    if precision == "auto":
        forced = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
        if forced not in ("auto", "bf16", "fp32"):
            raise RatchetError(f"{PRECISION_ENV}={forced!r} is not understood: use auto, bf16 or fp32")
        if forced != "auto":
            return forced == "bf16"
        if device.type == "cuda":
            return torch.cuda.is_bf16_supported()
        return device.type == "cpu" and cpu_has_native_bf16()
    return precision == "bf16"


def autocast(device: torch.device, bf16: bool | None = None):
    """bf16 autocast (fp32 master weights stay untouched) or nothing; ``None`` = the device's default."""
    if bf16 is None:
        bf16 = use_bf16(device)
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def pad_multiple_for(device: torch.device, compiled: bool = False) -> int:
    """Round padded widths to 8 on GPUs (tensor cores, fewer compiled shapes); exact widths on CPU."""
    return 8 if device.type == "cuda" or compiled else 1


def predict_probs(
    model,
    encoded: Encoded,
    *,
    device: str | torch.device,
    max_tokens: int = 8192,
    batch_size: int = 64,
    pad_id: int = 0,
    progress=None,
    bf16: bool | None = None,
    batch_fn=None,
) -> np.ndarray:
    """Softmax probabilities (n_rows, n_labels), float32, in input order; a multi-label model's (its config's
    problem_type) are independent sigmoid probabilities, one per label.

    Only one padded batch exists at a time, so memory stays flat however many rows come in.
    ``batch_fn(encoded, rows)`` builds the model's inputs instead of ``collate`` (cached frozen states).
    """
    device = torch.device(device)
    n_labels = int(model.config.num_labels)
    multilabel = getattr(model.config, "problem_type", None) == "multi_label_classification"
    out = np.empty((len(encoded), n_labels), dtype=np.float32)
    if len(encoded) == 0:
        return out
    multiple = pad_multiple_for(device)
    if device.type == "cpu":
        batches = inference_batches(encoded.lengths, max_tokens=max_tokens, batch_size=batch_size)
    else:  # a GPU wants full batches: filled in length order, as in training
        batches = plan_batches(encoded.lengths, max_tokens=max_tokens, batch_size=batch_size, pad_multiple=multiple)
    was_training = model.training
    model.eval()
    pending: list[tuple[np.ndarray, torch.Tensor]] = []

    def flush() -> None:
        if pending:
            probs = torch.cat([p for _, p in pending]).cpu().numpy()
            out[np.concatenate([rows for rows, _ in pending])] = probs
            pending.clear()

    bar = progress.bar("predict", total=len(encoded)) if progress is not None else contextlib.nullcontext()
    try:
        with bar as handle, torch.inference_mode(), autocast(device, bf16):
            for rows in batches:
                batch = collate(encoded, rows, pad_id, multiple, skip_full_mask=True) if batch_fn is None else None
                inputs = to_device(batch if batch is not None else batch_fn(encoded, rows), device)
                logits = model(**inputs).logits
                probs = torch.sigmoid(logits.float()) if multilabel else torch.softmax(logits.float(), dim=-1)
                pending.append((rows, probs))
                if len(pending) >= FLUSH_EVERY:
                    flush()
                if handle is not None:
                    handle.advance(len(rows))
            flush()
    finally:
        model.train(was_training)
    return out
