"""Report intermediate validation scores of a trial to Optuna and stop it when the pruner says so.

The training loop hands each evaluation to ``on_evaluate`` (one history entry: epoch,
valid_macro_f1, ...). Optuna's pruner compares the trial with earlier trials at the same
evaluation index and ``TrialPruned`` ends the fine-tune there. When the engine has no
such hook, ``replay`` reports the finished history afterwards: the same decisions are
recorded (the trial is still marked pruned at the same point), only the compute is not saved.
"""

from __future__ import annotations

from typing import Any

import optuna

METRIC = "valid_macro_f1"


class PruningReporter:
    """``on_evaluate`` callback bound to one trial; ``prune=False`` reports without ever pruning."""

    def __init__(self, trial: optuna.trial.Trial, prune: bool = True) -> None:
        self.trial = trial
        self.prune = prune
        self.reported = 0
        self.pruned_at: int | None = None

    def __call__(self, entry: dict[str, Any]) -> None:
        # Evaluation index (1, 2, ...) is the step: evals_per_epoch is shared by all trials,
        # so index k is the same point in training (k / evals_per_epoch epochs) for every trial.
        self.reported += 1
        value = float(entry[METRIC])
        self.trial.report(value, self.reported)
        if self.prune and self.trial.should_prune():
            self.pruned_at = self.reported
            raise optuna.TrialPruned(f"pruned at evaluation {self.reported} (valid macro-F1 {value:.4f})")

    def replay(self, history: list[dict[str, Any]]) -> None:
        """Report the evaluations the live hook did not see (all of them without the hook)."""
        for entry in history[self.reported :]:
            self(entry)
