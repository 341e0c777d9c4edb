"""How long a fit trains: the configured epochs, stretched to ``min_steps`` optimizer steps on small data.

Five epochs of a few hundred texts are about a hundred optimizer steps, which leave a fine-tune short of
its plateau (the shipped model then sits near the TF-IDF baseline). ``TrainParams.min_steps`` is the floor:
a schedule whose epochs give fewer steps is stretched to it, warmup and decay included, and its
evaluations are spread over the stretched schedule as the configured epochs would have them, so early
stopping's patience means the same share of the schedule on every data size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ratchet.config import TrainParams


@dataclass(frozen=True)
class Schedule:
    steps: int
    """Optimizer steps the fit trains."""
    configured_steps: int
    """Steps the configured epochs alone give."""
    evaluations_per_batch: float
    """Validation evaluations per micro-batch (``epochs * evals_per_epoch`` over the whole schedule)."""
    epochs: float
    """Passes over the training rows the fit makes."""

    @property
    def stretched(self) -> bool:
        return self.steps > self.configured_steps

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "configured_steps": self.configured_steps, "epochs": round(self.epochs, 3)}


def schedule_of(params: TrainParams, batches_per_epoch: int, group: int) -> Schedule:
    """The schedule of a fit whose epoch is ``batches_per_epoch`` micro-batches, ``group`` to an optimizer step."""
    per_epoch = max(batches_per_epoch, 1)
    configured = max(1, round(params.epochs * per_epoch / group))
    steps = max(configured, int(params.min_steps))
    return Schedule(
        steps=steps,
        configured_steps=configured,
        evaluations_per_batch=params.evals_per_epoch / per_epoch * configured / steps,
        epochs=steps * group / per_epoch,
    )


def with_epochs(params: TrainParams, epochs: float) -> TrainParams:
    """``params`` for ``epochs`` epochs, the ``min_steps`` floor scaled alike: a fit meant as a share of the
    configured schedule (a search rung, a probe, a trial's epochs) stays that share of it on small data."""
    if epochs == params.epochs:  # the very params, so that the run's fit cache knows the fit
        return params
    scale = float(epochs) / params.epochs
    return dataclasses.replace(params, epochs=float(epochs), min_steps=round(params.min_steps * scale))


def fixed_epochs(params: TrainParams, epochs: float) -> TrainParams:
    """``params`` for exactly ``epochs`` epochs, never stretched: a length already decided on the data (a refit
    for the epochs at which its folds peaked, a schedule the time budget shortened)."""
    return dataclasses.replace(params, epochs=float(epochs), min_steps=0)
