"""Which device a run, a prediction or a search worker uses."""

from __future__ import annotations


def resolve_device(device: str) -> str:
    import torch

    from ratchet.errors import RatchetError

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RatchetError("--device cuda was asked for, but no CUDA GPU is visible: use --device cpu or auto")
    return device
