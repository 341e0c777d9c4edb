"""What a cross-fit produced: each fold's fit, and the judged probabilities of all folds in one array."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.config import TrainParams
from ratchet.training.schedule import fixed_epochs


@dataclass
class FoldFit:
    probs: np.ndarray
    """Probabilities of this fold's judged rows."""
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    """The fit's evaluations on the judged rows (watched, never chosen on, in cross-fitted folds)."""
    reused: bool = False
    model_dir: Path | None = None
    """The fitted model, when it was saved (holdout: the model that ships if the candidate is kept)."""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class CrossFit:
    name: str
    probs: np.ndarray
    """(judged rows, labels); rows of folds that did not run are NaN."""
    folds: list[FoldFit]
    k: int
    """Folds planned."""
    note: str | None = None
    workers: str | None = None
    """How folds ran side by side ("2 worker processes x 1 thread"), when any did."""

    @property
    def complete(self) -> bool:
        return len(self.folds) == self.k

    @property
    def cut_folds(self) -> int:
        """Fold fits the deadline stopped before their schedule ended."""
        return sum(bool(f.info.get("stopped_by_deadline")) for f in self.folds)

    def refit_epochs(self, configured: float) -> float:
        """Epochs for a refit on every row: where the folds' mean judged macro-F1 peaked (``configured`` when the
        folds recorded no curve). Every fold ran its whole schedule (on small data stretched to min_steps, so the
        peak may lie past ``configured``): this only shortens theirs."""
        curves = [f.history for f in self.folds if f.history]
        points = min((len(c) for c in curves), default=0)
        if points == 0:
            return configured
        mean = np.mean([[entry["valid_macro_f1"] for entry in c[:points]] for c in curves], axis=0)
        best = int(np.argmax(mean))
        return max(float(statistics.median(c[best]["epoch"] for c in curves)), 1e-3)

    def refit_params(self, params: TrainParams) -> TrainParams:
        """The refit's recipe: ``params`` for refit_epochs, fixed there (min_steps does not stretch a length chosen
        on the folds' curves); ``params`` as they are when the folds recorded no curve."""
        if not any(f.history for f in self.folds):
            return params
        return fixed_epochs(params, self.refit_epochs(params.epochs))

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folds_run": len(self.folds),
            "folds_planned": self.k,
            "fold_seconds": [round(f.seconds, 2) for f in self.folds],
            "reused_folds": sum(f.reused for f in self.folds),
            **({"cut_by_deadline": self.cut_folds} if self.cut_folds else {}),
            **({"note": self.note} if self.note else {}),
            **({"workers": self.workers} if self.workers else {}),
        }
