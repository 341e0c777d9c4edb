"""Which rows judge a candidate: one holdout split, or k fixed, stratified, group-aware folds.

On small data one validation slice of 90-180 rows measures which rows landed in it, not
the candidate. With ``gate.folds`` the labeled rows outside the sealed test (the *pool*:
the train split's rows, then the valid split's rows, in that order) are cut into k folds:
every candidate is fitted k times, each time without one fold, and judged on its
predictions for the held-out rows (out-of-fold), which cover the whole pool exactly once.

The folds are fixed per run (seeded), stratified by label, and near-duplicate groups found
by ``clean`` never straddle two folds: a near-copy in the training part of a fold and its
twin in the held-out part would flatter that fold.

In holdout mode the plan has one split: train rows fit, valid rows judge, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.errors import RatchetError
from ratchet.fsutil import read_json, write_json

HOLDOUT = "holdout"
CROSSFIT = "crossfit"


@dataclass(frozen=True)
class FoldSplit:
    fold: int
    """0-based fold number (0 in holdout mode)."""
    train: np.ndarray
    """Pool row positions the candidate is fitted on."""
    judged: np.ndarray
    """Pool row positions it predicts and is judged on (never among ``train``)."""


@dataclass(frozen=True)
class FoldPlan:
    mode: str
    """"holdout" or "crossfit"."""
    fold_of: np.ndarray
    """Per pool row: its fold (crossfit), or -1 for a training row and 0 for a valid row (holdout)."""
    n_train: int
    """Rows of the train split at the head of the pool (the rest are the valid split's)."""
    seed: int
    reason: str = ""
    """Why this mode was chosen (for the ledger and the report)."""

    @property
    def k(self) -> int:
        return int(self.fold_of.max()) + 1 if len(self.fold_of) else 0

    @property
    def crossfit(self) -> bool:
        return self.mode == CROSSFIT

    def splits(self, folds: int | None = None) -> Iterator[FoldSplit]:
        """The first ``folds`` splits (all by default), in fold order."""
        for fold in range(self.k if folds is None else min(folds, self.k)):
            judged = np.flatnonzero(self.fold_of == fold)
            train = np.flatnonzero(self.fold_of != fold) if self.crossfit else np.flatnonzero(self.fold_of < 0)
            yield FoldSplit(fold, train, judged)

    def judged_rows(self) -> np.ndarray:
        """Pool positions that are judged, in pool order (crossfit: every row; holdout: the valid rows)."""
        return np.flatnonzero(self.fold_of >= 0)

    @property
    def n_judged(self) -> int:
        return int((self.fold_of >= 0).sum())

    def fold_ids(self) -> np.ndarray:
        """The fold of each judged row, aligned with ``judged_rows``."""
        return self.fold_of[self.judged_rows()]

    def positions(self, split: FoldSplit) -> np.ndarray:
        """Where ``split``'s judged rows sit in an array laid out like ``judged_rows``."""
        return np.searchsorted(self.judged_rows(), split.judged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "k": self.k,
            "n_train": self.n_train,
            "seed": self.seed,
            "reason": self.reason,
            "fold_of": self.fold_of.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldPlan:
        return cls(data["mode"], np.asarray(data["fold_of"], dtype=np.int64), int(data["n_train"]),
                   int(data["seed"]), data.get("reason", ""))  # fmt: skip

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> FoldPlan:
        return cls.from_dict(read_json(path))


def crossfitted(path: Path | None) -> bool:
    """Whether the fold plan saved at ``path`` (data.folds) cross-fits; False without one (no split step yet).
    Reads the mode alone: the budget plan asks before every step."""
    return path is not None and read_json(path).get("mode") == CROSSFIT


def holdout_plan(n_train: int, n_valid: int, seed: int, reason: str = "") -> FoldPlan:
    fold_of = np.concatenate([np.full(n_train, -1, dtype=np.int64), np.zeros(n_valid, dtype=np.int64)])
    return FoldPlan(HOLDOUT, fold_of, n_train, seed, reason)


def assign_folds(labels: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id per row: stratified by ``labels``, every ``groups`` value within one fold, fixed by ``seed``."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    labels, groups = np.asarray(labels), np.asarray(groups)
    if k < 2:
        raise RatchetError(f"gate.folds={k}: cross-fitting needs at least 2 folds")
    if len(np.unique(groups)) < k:
        raise RatchetError(f"{len(np.unique(groups))} distinct texts are too few for {k} folds: lower gate.folds")
    fold_of = np.full(len(labels), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has fewer than k members": expected on tiny data
        warnings.simplefilter("ignore", UserWarning)
        for fold, (_, held) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            fold_of[held] = fold
    return fold_of


def group_ids(n_rows: int, groups: list[list[int]]) -> np.ndarray:
    """Row -> group id (the group's first row, or the row itself when it has no near-duplicate)."""
    owner = np.arange(n_rows, dtype=np.int64)
    for group in groups:
        owner[list(group)] = group[0]
    return owner


def crossfit_plan(
    labels: np.ndarray, groups: np.ndarray, n_train: int, k: int, seed: int, reason: str = ""
) -> FoldPlan:
    return FoldPlan(CROSSFIT, assign_folds(labels, groups, k, seed), n_train, seed, reason)
