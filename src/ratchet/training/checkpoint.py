"""Resumable training checkpoints, written atomically so a ``kill -9`` never leaves half of one.

``checkpoint_dir/state.pt`` holds everything the loop needs to continue exactly where it
was (weights, optimizer, schedule, every RNG, position, early-stopping state, history);
the best weights so far live in ``best-<step>.pt``, named by step so that the state file
and the weights it points to are always a consistent pair whatever moment a kill hits.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ratchet.fsutil import atomic_write

STATE = "state.pt"


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights to serialize, without a copy: torch.save streams each tensor (and loads map to CPU)."""
    return {key: value.detach() for key, value in model.state_dict().items()}


def _save(path: Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def best_name(step: int) -> str:
    return f"best-{step}.pt"


def save_best(checkpoint_dir: Path, model: torch.nn.Module, step: int) -> None:
    """Write the current weights as the best so far (the state file records best_name(step))."""
    _save(Path(checkpoint_dir) / best_name(step), cpu_state_dict(model))


def load_best(checkpoint_dir: Path, name: str) -> dict[str, torch.Tensor]:
    return torch.load(Path(checkpoint_dir) / name, map_location="cpu", weights_only=True)


def save_state(checkpoint_dir: Path, model, optimizer, scheduler, loop_state: dict[str, Any]) -> None:
    """Write the resumable state, then delete best-weight files it no longer points to."""
    checkpoint_dir = Path(checkpoint_dir)
    payload = {
        "model": cpu_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states(),
        "loop": loop_state,
    }
    _save(checkpoint_dir / STATE, payload)
    keep = loop_state.get("best_file")
    for stale in checkpoint_dir.glob("best-*.pt"):
        if stale.name != keep:
            stale.unlink(missing_ok=True)


def load_state(checkpoint_dir: Path) -> dict[str, Any] | None:
    """The saved state, or None when the folder holds no checkpoint."""
    path = Path(checkpoint_dir) / STATE
    if not path.is_file():
        return None
    # RNG states hold numpy arrays and Python tuples, so this file needs the full unpickler; it is
    # our own file, written in this run folder.
    return torch.load(path, map_location="cpu", weights_only=False)
