"""What a shipped fine-tune needs to be trained again: backbone, parameters (epochs as trained), seed.

Written into the model folder's ratchet.json (``recipe``) by the steps that fine-tune, so that
``--refit-all`` can refit the model that ships on every labeled row after the sealed evaluation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ratchet.config import TrainParams
from ratchet.fsutil import read_json, write_json
from ratchet.training.schedule import fixed_epochs

KEY = "recipe"


def recipe(backbone: str, params: TrainParams, seed: int, epochs: float | None = None) -> dict[str, Any]:
    trained = params if epochs is None else fixed_epochs(params, epochs)
    return {"backbone": backbone, "train_params": dataclasses.asdict(trained), "seed": int(seed)}


def best_epoch(history: list[dict[str, Any]]) -> float | None:
    """The epoch of the best evaluation (what early stopping kept), None without a history."""
    if not history:
        return None
    best = max(history, key=lambda entry: entry.get("valid_macro_f1", float("-inf")))
    return float(best["epoch"])


def set_epochs(model_dir: Path, epochs: float | None) -> None:
    """Record the epochs a kept checkpoint was trained for in its folder's recipe (fixed: a refit of it is not
    stretched to min_steps again)."""
    path = Path(model_dir) / "ratchet.json"
    meta = read_json(path)
    if epochs is None or KEY not in meta:
        return
    meta[KEY]["train_params"].update(epochs=float(epochs), min_steps=0)
    write_json(path, meta)


def read_recipe(model_dir: Path) -> tuple[str, TrainParams, int] | None:
    meta = read_json(Path(model_dir) / "ratchet.json")
    found = meta.get(KEY)
    if not isinstance(found, dict):
        return None
    # A recipe written before min_steps existed trained its epochs unstretched.
    params = TrainParams(**{"min_steps": 0, **found["train_params"]})
    return str(found["backbone"]), params, int(found["seed"])
