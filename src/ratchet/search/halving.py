"""Successive halving over candidate backbones, with fixed-score entrants (the linear baseline).

Rung r trains every surviving transformer for ``top_epochs / eta**(R-1-r)`` epochs and keeps
the best 1/eta of the pool; the last rung trains with the full configured epochs, so the
final comparison - including the one against the baseline, which is already fully
trained - is a fair one. With one transformer and the baseline there is a single rung: the
transformer gets its full training before the baseline may beat it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Evaluate = Callable[[str, float, float], "float | None"]
"""(candidate, epochs, share of the remaining planned work) -> validation score, or None if not run."""


@dataclass
class Rung:
    epochs: float
    scores: dict[str, float] = field(default_factory=dict)
    """Score of every candidate in this rung's pool (fixed entrants included)."""
    kept: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    """Candidates the time budget left untrained in this rung (ranked by their last score)."""

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "scores": self.scores, "kept": self.kept, "not_run": self.not_run}


def n_rungs(n_candidates: int, eta: int) -> int:
    return max(1, math.ceil(math.log(n_candidates) / math.log(eta) - 1e-9)) if n_candidates > 1 else 1


def pool_sizes(n_candidates: int, eta: int) -> list[int]:
    sizes = [n_candidates]
    for _ in range(n_rungs(n_candidates, eta) - 1):
        sizes.append(math.ceil(sizes[-1] / eta))
    return sizes


def rung_epochs(n_candidates: int, eta: int, top_epochs: float, min_epochs: float = 0.25) -> list[float]:
    rungs = n_rungs(n_candidates, eta)
    return [max(min_epochs, top_epochs / eta ** (rungs - 1 - r)) for r in range(rungs)]


def successive_halving(
    trainable: list[str],
    fixed: dict[str, float],
    evaluate: Evaluate,
    *,
    eta: int = 2,
    top_epochs: float = 4.0,
) -> tuple[str, list[Rung]]:
    """-> (winner, rungs). ``fixed`` entrants (name -> score) cost nothing and sit in every pool
    until ranked out. Ties go to the fixed entrants first (the cheaper model), then input order."""
    if eta < 2:
        raise ValueError("eta must be at least 2")
    names = list(dict.fromkeys(trainable))
    n = len(names) + len(fixed)
    if n == 0:
        raise ValueError("no candidates")
    if n == 1:  # a lone candidate wins without a race
        return (names or list(fixed))[0], []
    epochs = rung_epochs(n, eta, top_epochs)
    sizes = pool_sizes(n, eta)
    order = {name: i for i, name in enumerate([*fixed, *names])}
    last: dict[str, float] = dict(fixed)
    alive_fixed = dict(fixed)
    survivors = names
    rungs: list[Rung] = []
    for r, rung_epoch in enumerate(epochs):
        rung = Rung(rung_epoch)
        for i, name in enumerate(survivors):
            planned = sum(min(len(names), size) * e for size, e in zip(sizes[r + 1 :], epochs[r + 1 :], strict=True))
            work_left = (len(survivors) - i) * rung_epoch + planned
            score = evaluate(name, rung_epoch, rung_epoch / work_left if work_left > 0 else 1.0)
            if score is None:
                rung.not_run.append(name)
            else:
                last[name] = score
        pool = [name for name in [*alive_fixed, *survivors] if name in last]
        rung.scores = {name: last[name] for name in pool}
        keep = 1 if r == len(epochs) - 1 else max(1, math.ceil(len(pool) / eta))
        ranked = sorted(pool, key=lambda name: (-last[name], order[name]))
        rung.kept = ranked[:keep]
        rungs.append(rung)
        alive_fixed = {name: score for name, score in alive_fixed.items() if name in rung.kept}
        survivors = [name for name in survivors if name in rung.kept]
        if rung.not_run or len(rung.kept) == 1:
            # Out of time (or decided): the best score seen so far wins.
            return rung.kept[0] if rung.kept else names[0], rungs
    return (rungs[-1].kept or names)[0], rungs
