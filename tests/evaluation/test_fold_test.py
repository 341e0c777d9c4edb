"""The corrected resampled t-test and the stratified paired bootstrap beside the ratchet rule."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.evaluation.fold_test import corrected_t_test
from ratchet.evaluation.metrics import stratified_bootstrap_indices
from ratchet.evaluation.significance import judge


def test_the_correction_widens_the_test_by_the_overlap_of_training_parts() -> None:
    gains = [0.02, 0.03, 0.01, 0.04, 0.02]
    test = corrected_t_test(gains, held_out_share=0.2)
    mean, sd = np.mean(gains), np.std(gains, ddof=1)
    naive_t = mean / (sd / np.sqrt(5))
    assert test.t_stat == pytest.approx(mean / np.sqrt((1 / 5 + 0.25) * sd**2))
    assert test.t_stat < naive_t and 0 < test.p_value < 0.05
    assert corrected_t_test([0.0, 0.0, 0.0], 1 / 3).p_value == pytest.approx(0.5)
    assert corrected_t_test([0.1], 0.5) is None


def test_stratified_resamples_keep_every_class_count() -> None:
    strata = np.array([0] * 70 + [1] * 25 + [2] * 5)
    for chunk in stratified_bootstrap_indices(strata, 50, seed=0):
        for draw in chunk:
            assert np.bincount(strata[draw], minlength=3).tolist() == [70, 25, 5]


def test_judge_records_the_fold_test_and_keeps_a_clear_gain_across_folds() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    folds = np.repeat(np.arange(5), 100)
    worse = np.where(rng.random(500) < 0.6, y, (y + 1) % 3)
    better = np.where(rng.random(500) < 0.85, y, (y + 1) % 3)
    a, b = np.eye(3)[worse] * 0.7 + 0.1, np.eye(3)[better] * 0.7 + 0.1
    decision = judge(y, a, b, metric="macro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500, seed=0,
                     stratified=True, folds=folds)  # fmt: skip
    assert decision.kept and decision.folds == 5 and len(decision.fold_gains) == 5
    assert all(g > 0 for g in decision.fold_gains) and decision.t_p_value < 0.01
    same = judge(y, a, a.copy(), metric="macro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500, seed=0,
                 stratified=True, folds=folds)  # fmt: skip
    assert not same.kept and same.p_better == pytest.approx(0.5) and same.gain == 0.0


def _one_fold_gain() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A candidate that fixes 20 rows of fold 0 and breaks 2 rows in each other fold: more rows right overall
    (the row bootstrap is sure), but its gain is one fold's luck (the fold gains disagree)."""
    y = np.tile(np.arange(3), 200)[:500]
    folds = np.repeat(np.arange(5), 100)
    reference = y.copy()
    reference[:20] = (y[:20] + 1) % 3  # fold 0: 20 rows wrong
    for fold in range(5):
        reference[fold * 100 + 50 : fold * 100 + 80] = (y[fold * 100 + 50 : fold * 100 + 80] + 1) % 3
    candidate = reference.copy()
    candidate[:20] = y[:20]
    for fold in range(1, 5):
        candidate[fold * 100 : fold * 100 + 2] = (y[fold * 100 : fold * 100 + 2] + 2) % 3
    return y, folds, np.eye(3)[reference] * 0.7 + 0.1, np.eye(3)[candidate] * 0.7 + 0.1


@pytest.mark.parametrize("required", [True, False])
def test_a_gain_from_one_fold_passes_the_bootstrap_but_not_the_required_fold_test(required: bool) -> None:
    y, folds, reference, candidate = _one_fold_gain()
    decision = judge(y, reference, candidate, metric="macro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500,
                     seed=0, stratified=True, folds=folds, fold_test=required)  # fmt: skip
    assert decision.gain > 0 and decision.p_better >= 0.95  # the rows alone would keep it
    assert decision.fold_gains[0] > 0 and all(g < 0 for g in decision.fold_gains[1:])
    assert decision.t_p_value > 0.2
    assert decision.kept is not required
    assert f"corrected t-test over 5 folds p={decision.t_p_value:.3f}" in decision.reason
    if required:
        assert decision.reason.startswith("rejected: corrected t-test") and "P(better)=" in decision.reason


def test_a_non_inferiority_judgment_does_not_ask_the_fold_test() -> None:
    """compress's question (no worse than a margin) is not the t-test's (better than zero)."""
    y, folds, reference, _ = _one_fold_gain()
    decision = judge(y, reference, reference.copy(), metric="macro_f1", min_gain=0.0, confidence=0.8,
                     n_bootstrap=500, seed=0, stratified=True, folds=folds, margin=0.005, fold_test=True)  # fmt: skip
    assert decision.kept
