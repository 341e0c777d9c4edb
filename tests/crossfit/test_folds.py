"""Fold plans: stratified, reproducible, near-duplicate groups kept whole, every row judged exactly once."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.crossfit.folds import FoldPlan, assign_folds, crossfit_plan, group_ids, holdout_plan
from ratchet.errors import RatchetError


def labels_and_groups(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    groups = group_ids(n, [[i, i + 1, i + 2] for i in range(0, 60, 3)])  # 20 near-duplicate triples
    return labels, groups


def test_folds_are_stratified_and_reproducible() -> None:
    labels, groups = labels_and_groups()
    folds = assign_folds(labels, groups, k=5, seed=7)
    assert set(folds) == {0, 1, 2, 3, 4}
    np.testing.assert_array_equal(folds, assign_folds(labels, groups, k=5, seed=7))
    assert not np.array_equal(folds, assign_folds(labels, groups, k=5, seed=8))
    overall = np.bincount(labels, minlength=3) / len(labels)
    for fold in range(5):
        share = np.bincount(labels[folds == fold], minlength=3) / (folds == fold).sum()
        assert np.abs(share - overall).max() < 0.08, (fold, share, overall)
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 6


def test_near_duplicate_groups_never_straddle_folds() -> None:
    labels, groups = labels_and_groups()
    folds = assign_folds(labels, groups, k=5, seed=1)
    for start in range(0, 60, 3):
        assert len(set(folds[start : start + 3])) == 1


def test_every_pool_row_is_judged_exactly_once_and_never_trained_on_in_its_fold() -> None:
    labels, groups = labels_and_groups()
    plan = crossfit_plan(labels, groups, n_train=250, k=5, seed=3)
    judged = np.concatenate([split.judged for split in plan.splits()])
    assert sorted(judged.tolist()) == list(range(300))
    for split in plan.splits():
        assert not set(split.train) & set(split.judged)
        assert len(split.train) + len(split.judged) == 300
        np.testing.assert_array_equal(plan.judged_rows()[plan.positions(split)], split.judged)
    assert plan.n_judged == 300 and len(plan.fold_ids()) == 300
    again = FoldPlan.from_dict(plan.to_dict())
    np.testing.assert_array_equal(again.fold_of, plan.fold_of)


def test_a_holdout_plan_judges_the_valid_rows_after_the_train_rows() -> None:
    plan = holdout_plan(n_train=8, n_valid=3, seed=0)
    (split,) = list(plan.splits())
    assert split.train.tolist() == list(range(8)) and split.judged.tolist() == [8, 9, 10]
    assert plan.k == 1 and not plan.crossfit and plan.judged_rows().tolist() == [8, 9, 10]


def test_too_few_distinct_texts_for_the_folds_is_a_clear_error() -> None:
    with pytest.raises(RatchetError, match="too few for 5 folds"):
        assign_folds(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), k=5, seed=0)
