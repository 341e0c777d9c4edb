"""What a fit returns (FitResult) and what a checkpoint carries besides weights (LoopState).

Apart from the loop so that the code choosing the returned weights (selection.py) and the tests can
name them without importing the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FitResult:
    valid_probs: np.ndarray
    """(n_valid, n_labels) probabilities of the best checkpoint."""
    best_score: float
    """Validation macro-F1 of the best checkpoint."""
    history: list[dict[str, Any]]
    """One entry per evaluation: step, epoch, train_loss, valid_macro_f1, valid_loss, tokens_per_s,
    samples_per_s, lr."""
    telemetry: dict[str, Any]
    steps: int
    stopped_early: bool
    stopped_by_deadline: bool
    resumed_from_step: int = 0
    """Optimizer step of the checkpoint this run continued from (0: started fresh)."""


@dataclass
class LoopState:
    """Everything besides weights/optimizer/RNG that a resumed run needs (saved in each checkpoint)."""

    fingerprint: str
    step: int = 0
    best_score: float = -math.inf
    best_file: str | None = None
    best_probs: np.ndarray | None = None
    last_score: float = -math.inf
    last_probs: np.ndarray | None = None
    bad_evals: int = 0
    last_eval_step: int = -1
    loss_sum: float = 0.0  # training loss summed since the last evaluation
    loss_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
