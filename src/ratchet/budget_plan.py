"""How ``--budget`` is split across the steps: each step gets a share of the time left, in proportion to its
declared ``budget_share`` among the steps still to run.

A step that can already tell it will not run (``foreseen_skip``: chunk on data with few long texts, selftrain
without an unlabeled corpus, cross-fitted adapt without one, the balanced preset's search on cross-fitted data)
is not counted, so its share goes to the steps that will run. Counting it used to starve the early steps: on
short texts the balanced preset reserved chunk's 0.4 for a step that skipped at once, and select got about a
tenth of the budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ratchet.artifacts import ArtifactStore


@dataclass(frozen=True)
class StepBudget:
    deadline: float
    """When the step should be done (the run's deadline for a step without a share of its own)."""
    seconds: float
    """The time given to the step."""
    left: float
    """The run's time left when the step started."""
    not_counted: dict[str, str] = field(default_factory=dict)
    """Later steps that will not run, by name, and why: their shares went to the others."""

    def ledger(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"seconds": round(self.seconds, 1), "left": round(self.left, 1)}
        if self.not_counted:
            entry["not_counted"] = dict(self.not_counted)
        return entry


def declared_share(step: Any) -> float:
    return float(getattr(step, "budget_share", 0.0))


def foreseen_skip(step: Any, store: ArtifactStore) -> str | None:
    """Why ``step`` will not run, when what earlier steps provided already tells (None: it may run)."""
    check = getattr(step, "foreseen_skip", None)
    if check is None:
        return None
    return check(store.view(step.name, step.requires, getattr(step, "optional", ())))


def step_budget(
    steps: Sequence[Any], index: int, store: ArtifactStore, run_deadline: float | None, now: float | None = None
) -> StepBudget | None:
    """The time given to ``steps[index]``; None without a budget."""
    if run_deadline is None:
        return None
    now = time.time() if now is None else now
    left = max(0.0, run_deadline - now)
    share = declared_share(steps[index])
    if share <= 0:
        return StepBudget(run_deadline, left, left)
    # The step itself always counts: if it runs after all, it takes no more than its own share.
    not_counted: dict[str, str] = {}
    remaining = share
    for later in steps[index + 1 :]:
        if declared_share(later) <= 0:
            continue
        why = foreseen_skip(later, store)
        if why is None:
            remaining += declared_share(later)
        else:
            not_counted[later.name] = why
    seconds = left * share / remaining
    return StepBudget(now + seconds, seconds, left, not_counted)
