"""Resumable training checkpoints, written atomically so a ``kill -9`` never leaves half of one.

``checkpoint_dir/state.pt`` holds everything the loop needs to continue exactly where it
was (weights, optimizer, schedule, every RNG, position, early-stopping state, history);
the best weights so far live in ``best-<step>.pt``, named by step so that the state file
and the weights it points to are always a consistent pair whatever moment a kill hits.

Every file here holds only tensors and plain Python values, so it loads with
``torch.load(..., weights_only=True)``: a crafted checkpoint in a run folder cannot run code.
numpy values (the numpy RNG state, arrays in a loop state) are stored as tensors and turned
back into numpy on load, with their dtype, so a resumed run stays bit-exact.
"""

from __future__ import annotations

import logging
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ratchet.fsutil import atomic_write
from ratchet.training.state import LoopState

log = logging.getLogger("ratchet")

STATE = "state.pt"
_NUMPY = "__numpy__"  # tags a tensor that stood for a numpy array or scalar in a loop state
_PAYLOAD_KEYS = ("model", "optimizer", "scheduler", "rng", "loop")


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_rng_to_plain(np.random.get_state()),
        "python": random.getstate(),  # (version, tuple of ints, None): plain values weights_only accepts
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(_numpy_rng_from_plain(states["numpy"]))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _numpy_rng_to_plain(state: tuple) -> dict[str, Any]:
    """np.random.get_state() ("MT19937", uint32 keys, pos, has_gauss, cached_gaussian) -> tensors and plain values."""
    name, keys, pos, has_gauss, cached = state
    # int64 holds every uint32 exactly; torch's uint32 support is partial.
    return {
        "name": str(name),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _numpy_rng_from_plain(state: dict[str, Any]) -> tuple:
    keys = state["keys"].numpy().astype(np.uint32)
    return (state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])


def _to_plain(value: Any) -> Any:
    """numpy arrays and scalars (anywhere in dicts, lists, tuples) -> tagged tensors; the rest as is."""
    if isinstance(value, np.ndarray | np.generic):
        return {_NUMPY: torch.from_numpy(np.array(value, order="C", copy=True))}  # a writable C-ordered copy
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_plain(item) for item in value)
    return value


def _from_plain(value: Any) -> Any:
    """The inverse of _to_plain: tagged tensors -> numpy arrays (0-d ones -> numpy scalars) of the saved dtype."""
    if isinstance(value, dict):
        if set(value) == {_NUMPY}:
            array = value[_NUMPY].numpy()
            return array[()] if array.ndim == 0 else array
        return {key: _from_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_from_plain(item) for item in value)
    return value


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
        "loop": _to_plain(loop_state),
    }
    _save(checkpoint_dir / STATE, payload)
    keep = loop_state.get("best_file")
    for stale in checkpoint_dir.glob("best-*.pt"):
        if stale.name != keep:
            stale.unlink(missing_ok=True)


def load_state(checkpoint_dir: Path) -> dict[str, Any] | None:
    """The saved state, or None when the folder holds no usable checkpoint.

    A state file that is truncated, garbled, from an older ratchet (which pickled numpy objects)
    or crafted to run code is refused by the weights-only unpickler; it counts as "no checkpoint"
    with a warning, so training restarts from scratch (and overwrites it) instead of crashing a
    --resume: losing progress is better than a run that can never continue.
    """
    path = Path(checkpoint_dir) / STATE
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or any(key not in saved for key in _PAYLOAD_KEYS):
            raise ValueError("not a ratchet training state")
    # Broad on purpose: torch.load reports damage as RuntimeError, UnpicklingError, EOFError, ... by cause.
    except Exception as exc:
        # torch's own message for a refused object advises turning weights_only off: exactly what not to do here.
        refused = isinstance(exc, pickle.UnpicklingError)
        reason = "it holds more than tensors and plain values" if refused else " ".join(str(exc).split())[:200]
        log.warning("ignoring damaged checkpoint %s (%s): training starts from scratch", path, reason)
        return None
    saved["loop"] = _from_plain(saved["loop"])
    return saved


def resume(checkpoint_dir: Path, fingerprint: str, model, optimizer, scheduler) -> LoopState | None:
    """The loop state of a checkpoint written with the same settings and data (``fingerprint``), with the
    model, optimizer, schedule and every RNG restored from it; None when training starts afresh."""
    saved = load_state(checkpoint_dir)
    if saved is None:
        return None
    if saved["loop"]["fingerprint"] != fingerprint:
        log.info("ignoring checkpoint in %s: it belongs to different settings or data", checkpoint_dir)
        return None
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng_states(saved["rng"])
    return LoopState(**saved["loop"])
