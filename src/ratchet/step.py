"""The step contract: what a step declares, what it is given (StepContext), and what it returns.

A step is a small class with a frozen params dataclass. It declares the artifact keys it
cannot run without (``requires``), those it reads when present (``optional``), those it
may provide (``provides``), whether its result is judged (``gated``), its share of a time
budget (``budget_share``), and the input files outside the run folder whose contents the
manifest hashes (``input_files``). It returns what it measured, never what should happen:

- ``Completed``: done, nothing to judge (clean, split, baseline, evaluate, report);
- ``Candidate``: a gated step's proposal, with its probabilities on the judged rows and,
  when it measured one itself, its reference's; the pipeline applies the ratchet rule (the
  only place it is applied) and, if the candidate is kept, calls ``ship`` to build what the
  step provides (a refit on all rows, say: work that a rejected candidate never costs);
- ``Skipped``: the step did not apply, and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from ratchet.artifacts import ArtifactView
from ratchet.reporting.progress import Progress

if TYPE_CHECKING:
    from ratchet.crossfit.service import CrossFitter
    from ratchet.finetuning.finetune import TaskData
    from ratchet.finetuning.fitcache import FitCache

log = logging.getLogger("ratchet")


class Step(Protocol):
    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    """Artifact keys the step cannot run without: an earlier step must provide each (checked before the run)."""
    optional: ClassVar[tuple[str, ...]]
    """Artifact keys the step reads when an earlier step provided them."""
    provides: ClassVar[tuple[str, ...]]
    gated: ClassVar[bool]
    budget_share: ClassVar[float]
    """Share of the time left that this step may spend under --budget (0: no share of its own)."""
    params: Any

    def run(self, ctx: StepContext) -> Outcome: ...


def input_files(step: Any) -> dict[str, Path]:
    """Files outside the run folder a step reads (an unlabeled corpus, reviewed label fixes): name -> path."""
    declared = getattr(step, "input_files", None)
    return {} if declared is None else dict(declared())


@dataclass
class Completed:
    provides: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    probs: np.ndarray | None = None
    """Probabilities on the judged rows of the model this step provides (the new incumbent when it provides
    model.current, or the pick it stands for when nothing ships yet)."""


@dataclass
class Candidate:
    probs: np.ndarray
    """The candidate's probabilities on the judged rows (NaN rows: not judged, e.g. folds the budget skipped)."""
    provides: dict[str, Path] = field(default_factory=dict)
    """What the step provides if kept, when it already exists; ``ship`` may add to it."""
    metrics: dict[str, Any] = field(default_factory=dict)
    reference: np.ndarray | None = None
    """The reference as the step measured it, like for like (None: the model that would ship, the incumbent)."""
    reference_name: str = "incumbent"
    """What the reference is, for the ledger ("baseline", "configured parameters", "teacher", ...)."""
    metric: str | None = None
    """Judge with this metric instead of the run's gate metric (relabel's cheap learner: log loss)."""
    ship: Callable[[], dict[str, Path]] | None = None
    """Called once, only if the candidate is kept: builds and returns what the step provides (a refit)."""
    margin: float | None = None
    """Non-inferiority (compress): kept when it loses at most this much, with the rule's confidence; None:
    the usual question, whether it is better."""
    unmet: str | None = None
    """A measured requirement the candidate failed (compress: "1.2x faster, needs 1.5x"): rejected whatever
    its accuracy, with this reason in the ledger."""


@dataclass
class Skipped:
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)


Outcome = Completed | Candidate | Skipped


@dataclass
class StepContext:
    run_dir: Path
    step_dir: Path
    artifacts: ArtifactView
    device: str
    seed: int
    deadline: float | None
    progress: Progress
    log: logging.Logger = log
    services: Any = None
    """The run's shared services (ratchet.services.RunServices): task data, fit cache, cross-fitting."""
    incumbent: np.ndarray | None = None
    """The judged probabilities of the model that would ship now (read-only: steps that refine it, such as
    calibrate and decide, start from it)."""

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    # -- shared services: built once per run, not in each step ----------------------------------------------
    def task_data(self) -> TaskData:
        """The train/valid splits and labels of this run as the step sees them (a relabeled train included)."""
        return self.services.task_data(self.artifacts)

    @property
    def fit_cache(self) -> FitCache:
        return self.services.fit_cache

    @property
    def crossfit(self) -> CrossFitter:
        """Fits a candidate on every fold (or the holdout split) and assembles its judged probabilities."""
        return self.services.crossfitter(self)
