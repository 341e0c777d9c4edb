"""Seed ensembles as a model: their spread, their averaged probabilities, and the "ensemble" model folder.

The ensemble step (ratchet.steps.ensemble) and selftrain's student seeds build these; the
pipeline alone judges them. A folder of kind "ensemble" holds every member and is loaded by
``load_ensemble_predictor``, which averages the members' probabilities.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.fsutil import read_json
from ratchet.models.folder_layout import MEMBERS, save_member_folder


def seed_deadline(deadline: float | None, seeds_left: int, now: float) -> float | None:
    """This seed's share of the time left: the rest divided evenly among the seeds still to train."""
    return None if deadline is None else now + max(0.0, deadline - now) / max(1, seeds_left)


def spread(scores: list[float]) -> dict[str, float]:
    return {
        "n": len(scores),
        "mean": statistics.fmean(scores),
        "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
        "min": min(scores),
        "max": max(scores),
    }


def average_probs(members: list[np.ndarray]) -> np.ndarray:
    """The members' mean probabilities, row by row (a row some member did not judge stays NaN)."""
    return np.mean(np.stack([np.asarray(m, dtype=np.float64) for m in members]), axis=0).astype(np.float32)


def save_ensemble(member_dirs: list[Path], out_dir: Path, weights: list[float] | None = None) -> None:
    """Folder of kind "ensemble": members/<i>/ (each a complete model folder) + labels.json + ratchet.json;
    ``weights`` (summing to 1) weigh the members' probabilities, equal when None."""
    first = read_json(Path(member_dirs[0]) / "ratchet.json")
    meta = {**first, "kind": "ensemble", "members": len(member_dirs)}
    if weights is not None:
        meta["weights"] = [float(w) for w in weights]
    save_member_folder(Path(out_dir), {str(i): Path(m) for i, m in enumerate(member_dirs)}, member_dirs[0], meta)


@dataclass
class EnsemblePredictor:
    members: list[Any]
    labels: list
    meta: dict[str, Any]

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        weights = self.meta.get("weights") or [1.0 / len(self.members)] * len(self.members)
        total = None
        for index, (member, weight) in enumerate(zip(self.members, weights, strict=True)):
            # Progress counts rows once: the last member reports them.
            probs = member.predict_probs(texts, pairs, on_rows if index == len(self.members) - 1 else None)
            part = weight * probs.astype(np.float64)
            total = part if total is None else total + part
        return np.asarray(total, dtype=np.float32)


def load_ensemble_predictor(model_dir: str | Path, device: str = "cpu") -> EnsemblePredictor:
    from ratchet.predictor import load_predictor

    model_dir = Path(model_dir)
    members = sorted((model_dir / MEMBERS).iterdir(), key=lambda p: int(p.name))
    predictors = [load_predictor(member, device=device) for member in members]
    labels = read_json(model_dir / "labels.json")["labels"]
    return EnsemblePredictor(predictors, labels, read_json(model_dir / "ratchet.json"))
