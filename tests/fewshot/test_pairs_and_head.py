"""Pair generation (capped, balanced, correct targets) and the regression-to-Linear transplant."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from ratchet.fewshot.head import linear_weights, transplant
from ratchet.fewshot.pairs import draw_pairs, pair_count


def test_pairs_are_capped_and_the_cap_binds_only_on_many_rows() -> None:
    small = np.repeat([0, 1, 2], 8)  # 24 rows: 2 x 20 x 24 = 960 pairs, under the cap
    assert len(draw_pairs(small, pairs_per_row=20, max_pairs=2000, seed=0)) == 960 == pair_count(24, 20, 2000)
    large = np.random.default_rng(0).integers(0, 3, size=200_000)  # 8 million pairs uncapped
    pairs = draw_pairs(large, pairs_per_row=20, max_pairs=1000, seed=0)
    assert len(pairs) == 1000 and pairs.first.nbytes == 8000  # O(cap) memory, not O(rows^2)


def test_pairs_are_half_positive_with_the_right_targets_and_never_self_pairs() -> None:
    labels = np.array([0] * 5 + [1] * 3 + [2] * 12)
    pairs = draw_pairs(labels, pairs_per_row=10, max_pairs=10_000, seed=3)
    same = labels[pairs.first] == labels[pairs.second]
    np.testing.assert_array_equal(pairs.target, same.astype(np.float32))
    assert pairs.target.sum() == len(pairs) // 2
    assert not np.any(pairs.first == pairs.second)
    # Every row anchors pairs: a capped draw still covers the rows evenly.
    assert set(pairs.first.tolist()) == set(range(len(labels)))


def test_a_class_with_one_row_anchors_no_positive_pair_and_one_class_gets_no_negative() -> None:
    labels = np.array([0, 1, 1, 1])
    pairs = draw_pairs(labels, pairs_per_row=5, max_pairs=100, seed=0)
    positives = pairs.target == 1
    assert not np.any(labels[pairs.first[positives]] == 0)
    single = draw_pairs(np.zeros(6, dtype=int), pairs_per_row=2, max_pairs=100, seed=0)
    assert len(single) == 24 and single.target.min() == 1.0


def test_pairs_are_reproducible_by_seed() -> None:
    labels = np.repeat([0, 1], 10)
    a, b = (draw_pairs(labels, pairs_per_row=4, max_pairs=50, seed=7) for _ in range(2))
    np.testing.assert_array_equal(a.first, b.first) and np.testing.assert_array_equal(a.second, b.second)
    c = draw_pairs(labels, pairs_per_row=4, max_pairs=50, seed=8)
    assert not np.array_equal(a.first, c.first)


def _softmax_of(linear: torch.nn.Linear, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(linear(torch.as_tensor(x, dtype=torch.float64)), dim=-1).numpy()


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_the_transplanted_head_computes_the_regressions_predict_proba(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(120, 16))
    y = np.arange(120) % n_classes
    x[np.arange(120), y] += 2.0  # separable enough for a non-trivial fit
    regression = LogisticRegression(C=0.7, max_iter=2000).fit(x, y)
    linear = torch.nn.Linear(16, n_classes).double()
    transplant(regression, linear)
    fresh = rng.normal(size=(40, 16))
    np.testing.assert_allclose(_softmax_of(linear, fresh), regression.predict_proba(fresh), atol=1e-10)


def test_a_class_the_regression_never_saw_gets_no_probability() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 8)), np.array([0, 2] * 30)  # label 1 of 3 absent from this fold's rows
    x[y == 2] += 1.5
    regression = LogisticRegression().fit(x, y)
    weight, bias = linear_weights(regression.coef_, regression.intercept_, regression.classes_, 3)
    assert bias[1] < min(bias[0], bias[2]) - 29  # far below the classes it saw
    linear = torch.nn.Linear(8, 3).double()
    transplant(regression, linear)
    probs = _softmax_of(linear, x)
    assert probs[:, 1].max() < 1e-9 and np.all(weight[1] == 0)
    np.testing.assert_allclose(probs[:, [0, 2]], regression.predict_proba(x), atol=1e-9)
