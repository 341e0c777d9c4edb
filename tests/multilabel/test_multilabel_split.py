"""Iterative stratification: every split and every fold gets its share of a rare label."""

from __future__ import annotations

import numpy as np

from ratchet.data.multilabel_split import iterative_folds, iterative_split


def label_sets(n: int = 200, seed: int = 0) -> np.ndarray:
    """Two common labels on about half the rows each, and a rare one on 8 rows."""
    rng = np.random.default_rng(seed)
    matrix = (rng.random((n, 3)) < [0.5, 0.4, 0.0]).astype(np.int64)
    matrix[rng.choice(n, size=8, replace=False), 2] = 1
    matrix[matrix.sum(1) == 0, 0] = 1
    return matrix


def test_rare_label_lands_in_train_valid_and_test() -> None:
    matrix = label_sets()
    for seed in range(5):
        train, valid, test = iterative_split(matrix, 0.15, 0.2, seed)
        assert test is not None
        assert sorted([*train, *valid, *test]) == list(range(len(matrix)))  # a partition
        for part in (train, valid, test):
            assert matrix[part, 2].sum() >= 1  # the 8-row label is in every part
        assert 0.12 < len(valid) / len(matrix) < 0.18 and 0.17 < len(test) / len(matrix) < 0.23
        # each label's share of the test part stays near the 20% asked for
        shares = matrix[test].sum(0) / matrix.sum(0)
        assert np.all(np.abs(shares[:2] - 0.2) < 0.05)


def test_same_seed_same_split() -> None:
    matrix = label_sets()
    first, second = iterative_split(matrix, 0.15, 0.2, 3), iterative_split(matrix, 0.15, 0.2, 3)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


def test_folds_share_the_rare_label_and_keep_groups_whole() -> None:
    matrix = label_sets()
    groups = np.arange(len(matrix))
    groups[1] = groups[0]  # rows 0 and 1 are near-duplicates: one fold
    folds = iterative_folds(matrix, groups, 4, seed=0)
    assert folds[0] == folds[1]
    for fold in range(4):
        assert matrix[folds == fold, 2].sum() == 2  # 8 rare rows over 4 folds
