"""Iterative stratification (Sechidis et al. 2011) for label sets: splits and folds that keep rare labels.

A stratified split by whole label set would put each of hundreds of distinct sets in its own
stratum; a random split loses a rare label from valid or test. Iterative stratification
(from the maintained ``iterative-stratification`` package) hands out the rows of the rarest
label first, each to the part that still wants most of that label, so every part gets its
share of every label as far as the counts allow. The package's function walks rows in index
order, so the rows are shuffled with the seed first: the seed then fixes the result.
"""

from __future__ import annotations

import numpy as np

from ratchet.errors import RatchetError


def iterative_parts(matrix: np.ndarray, shares: list[float], seed: int) -> np.ndarray:
    """Part index per row (0..len(shares)-1), each label spread over the parts in proportion to ``shares``."""
    from iterstrat.ml_stratifiers import IterativeStratification

    matrix = np.asarray(matrix, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(matrix))
    ratios = np.asarray(shares, dtype=np.float64)
    # boolean: the function indexes its per-label counts with each row (0/1 ints would index labels 0 and 1)
    parts = IterativeStratification(matrix[order].astype(bool), ratios / ratios.sum(), np.random.RandomState(seed))
    out = np.empty(len(matrix), dtype=np.int64)
    out[order] = parts
    return out


def iterative_split(
    matrix: np.ndarray, valid_size: float, test_size: float | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(train, valid, test or None) row positions; every label keeps at least one training row."""
    n = len(matrix)
    test = test_size or 0.0
    parts = iterative_parts(matrix, [1.0 - valid_size - test, valid_size, *([test] if test else [])], seed)
    _keep_every_label_in_train(np.asarray(matrix), parts)
    train, valid = np.flatnonzero(parts == 0), np.flatnonzero(parts == 1)
    if not len(valid):
        raise RatchetError(f"{n} rows are too few to hold out a validation split: add rows or raise data.valid_size")
    held = np.flatnonzero(parts == 2) if test else None
    if test and held is not None and not len(held):
        raise RatchetError(f"{n} rows are too few to hold out a test split: add rows or pass --test FILE")
    return train, valid, held


def _keep_every_label_in_train(matrix: np.ndarray, parts: np.ndarray) -> None:
    """A label whose rows all went to valid/test cannot be learned: move one of its rows to train."""
    for label in range(matrix.shape[1]):
        rows = np.flatnonzero(matrix[:, label])
        if len(rows) and not (parts[rows] == 0).any():
            parts[rows[0]] = 0


def iterative_folds(matrix: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id per row for cross-fitting: iterative stratification over groups (a group's labels are the union
    of its rows'), so every near-duplicate group stays within one fold."""
    matrix, groups = np.asarray(matrix, dtype=np.int64), np.asarray(groups)
    owners, inverse = np.unique(groups, return_inverse=True)
    if len(owners) < k:
        raise RatchetError(f"{len(owners)} distinct texts are too few for {k} folds: lower gate.folds")
    grouped = np.zeros((len(owners), matrix.shape[1]), dtype=np.int64)
    np.maximum.at(grouped, inverse, matrix)
    fold_of_group = iterative_parts(grouped, [1.0] * k, seed)
    return fold_of_group[inverse]
