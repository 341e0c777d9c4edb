"""Paired bootstrap, McNemar and the ratchet rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import f1_score

from ratchet.errors import RatchetError
from ratchet.evaluation.mcnemar import mcnemar
from ratchet.evaluation.metrics import bootstrap_indices, resampled_confusions
from ratchet.evaluation.significance import GateDecision, judge, paired_bootstrap

K = 3


def _preds(n: int, accuracy: float, seed: int, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions that are right on about `accuracy` of the rows."""
    rng = np.random.default_rng(seed)
    if y is None:
        y = rng.integers(0, K, size=n)
    wrong = rng.random(n) > accuracy
    pred = np.where(wrong, (y + rng.integers(1, K, size=n)) % K, y)
    return y, pred


def _probs(pred: np.ndarray, confidence: float = 0.7) -> np.ndarray:
    probs = np.full((len(pred), K), (1 - confidence) / (K - 1))
    probs[np.arange(len(pred)), pred] = confidence
    return probs


def test_resampled_confusions_match_a_loop() -> None:
    y, pred = _preds(300, 0.7, seed=0)
    idx = next(bootstrap_indices(len(y), 5, seed=1))
    cms = resampled_confusions(y * K + pred, idx, K)
    for b in range(5):
        assert (cms[b] == sk_confusion(y[idx[b]], pred[idx[b]], labels=range(K))).all()


def test_identical_predictions_give_zero_gain_and_are_not_kept() -> None:
    y, pred = _preds(400, 0.7, seed=1)
    cmp = paired_bootstrap(y, pred, pred.copy(), k=K, n_bootstrap=300)
    assert cmp.gain == 0.0 and cmp.ci_low == 0.0 and cmp.ci_high == 0.0
    assert cmp.p_better == 0.5 and cmp.n == 400  # every resample is a tie
    decision = judge(
        y,
        _probs(pred),
        _probs(pred),
        metric="macro_f1",
        min_gain=0.0,
        confidence=0.8,
        n_bootstrap=300,
        seed=0,
    )
    assert not decision.kept and decision.gain == 0.0
    assert decision.reason.startswith("rejected: gain +0.0000 is not above min_gain")


def test_clearly_better_candidate_is_kept() -> None:
    y, pred_a = _preds(500, 0.55, seed=2)
    _, pred_b = _preds(500, 0.85, seed=3, y=y)
    cmp = paired_bootstrap(y, pred_a, pred_b, k=K, n_bootstrap=1000, seed=4)
    assert cmp.metric_a == pytest.approx(f1_score(y, pred_a, average="macro"))
    assert cmp.metric_b == pytest.approx(f1_score(y, pred_b, average="macro"))
    assert cmp.gain == pytest.approx(cmp.metric_b - cmp.metric_a) and cmp.gain > 0.2
    assert 0 < cmp.ci_low < cmp.gain < cmp.ci_high and cmp.p_better == 1.0
    decision = judge(
        y,
        _probs(pred_a),
        _probs(pred_b),
        metric="macro_f1",
        min_gain=0.0,
        confidence=0.8,
        n_bootstrap=1000,
        seed=4,
    )
    assert decision.kept and decision.ci_low > 0 and decision.reason.startswith("kept: macro_f1")
    assert (decision.before, decision.after, decision.ci_low) == (cmp.metric_a, cmp.metric_b, cmp.ci_low)
    # a worse candidate (the same pair reversed) is rejected on both counts
    worse = judge(
        y,
        _probs(pred_b),
        _probs(pred_a),
        metric="accuracy",
        min_gain=0.0,
        confidence=0.8,
        n_bootstrap=500,
        seed=0,
    )
    assert not worse.kept and worse.gain < 0 and worse.p_better < 0.01
    assert worse.as_dict()["metric"] == "accuracy"


def test_rule_needs_both_gain_above_min_gain_and_confidence() -> None:
    y, pred_a = _preds(300, 0.70, seed=5)
    pred_b = pred_a.copy()
    fix = np.flatnonzero(pred_a != y)[:3]  # B fixes three rows: a small, uncertain gain
    pred_b[fix] = y[fix]
    common = {"metric": "accuracy", "n_bootstrap": 2000, "seed": 0}
    small = judge(y, _probs(pred_a), _probs(pred_b), min_gain=0.0, confidence=0.8, **common)
    assert small.gain == pytest.approx(3 / 300) and small.p_better >= 0.8 and small.kept
    too_small = judge(y, _probs(pred_a), _probs(pred_b), min_gain=0.02, confidence=0.8, **common)
    assert not too_small.kept and "min_gain" in too_small.reason
    unsure = judge(y, _probs(pred_a), _probs(pred_b), min_gain=0.0, confidence=0.9999, **common)
    assert not unsure.kept and "below confidence" in unsure.reason


def test_judge_on_log_loss_uses_probabilities() -> None:
    y, pred = _preds(300, 1.0, seed=6)  # same argmax, B is just more confident and right
    decision = judge(
        y,
        _probs(pred, 0.5),
        _probs(pred, 0.9),
        metric="log_loss",
        min_gain=0.0,
        confidence=0.8,
        n_bootstrap=200,
        seed=0,
    )
    assert decision.metric == "neg_log_loss" and decision.kept
    assert decision.before == pytest.approx(math.log(0.5)) and decision.after == pytest.approx(math.log(0.9))
    with pytest.raises(RatchetError, match="unknown metric"):
        judge(y, _probs(pred), _probs(pred), metric="f3", min_gain=0.0, confidence=0.8, n_bootstrap=10, seed=0)
    assert isinstance(decision, GateDecision)


def test_paired_bootstrap_is_seeded() -> None:
    y, pred_a = _preds(200, 0.6, seed=7)
    _, pred_b = _preds(200, 0.65, seed=8, y=y)
    one = paired_bootstrap(y, pred_a, pred_b, k=K, n_bootstrap=400, seed=3)
    assert one == paired_bootstrap(y, pred_a, pred_b, k=K, n_bootstrap=400, seed=3)
    assert one != paired_bootstrap(y, pred_a, pred_b, k=K, n_bootstrap=400, seed=4)


def _pair_with_discordant(b01: int, b10: int, both_right: int = 10) -> tuple[np.ndarray, ...]:
    """Rows where only B is right (b01), only A is right (b10), both right, and both wrong (5)."""
    y = np.zeros(b01 + b10 + both_right + 5, dtype=int)
    a = np.concatenate([np.ones(b01), np.zeros(b10), np.zeros(both_right), np.ones(5)]).astype(int)
    b = np.concatenate([np.zeros(b01), np.ones(b10), np.zeros(both_right), np.full(5, 2)]).astype(int)
    return y, a, b


def test_mcnemar_exact_small_case() -> None:
    y, a, b = _pair_with_discordant(1, 6)
    res = mcnemar(y, a, b)
    assert (res.b01, res.b10, res.method, res.statistic) == (1, 6, "exact", 1.0)
    # two-sided: 2 * P(X <= 1), X ~ Binomial(7, 1/2) = 2 * (1 + 7) / 128
    assert res.p_value == pytest.approx(16 / 128)
    assert res.p_value == pytest.approx(binomtest(1, 7, 0.5).pvalue)
    for b01, b10 in [(0, 0), (3, 3), (0, 12), (11, 13)]:
        got = mcnemar(*_pair_with_discordant(b01, b10)).p_value
        expected = 1.0 if b01 + b10 == 0 else binomtest(b01, b01 + b10, 0.5).pvalue
        assert got == pytest.approx(expected)


def test_mcnemar_chi_square_case() -> None:
    res = mcnemar(*_pair_with_discordant(10, 30))
    assert res.method == "chi2" and (res.b01, res.b10) == (10, 30)
    assert res.statistic == pytest.approx((abs(10 - 30) - 1) ** 2 / 40)  # 9.025
    # chi-square with 1 dof: P(X > x) = erfc(sqrt(x / 2))
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))
    assert mcnemar(*_pair_with_discordant(15, 15)).p_value == 1.0


def test_mcnemar_matches_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.stats.contingency_tables")
    for b01, b10 in [(2, 9), (10, 30), (40, 22)]:
        ours = mcnemar(*_pair_with_discordant(b01, b10))
        table = [[5, b01], [b10, 10]]
        theirs = sm.mcnemar(table, exact=b01 + b10 < 25, correction=True)
        assert ours.statistic == pytest.approx(theirs.statistic)
        assert ours.p_value == pytest.approx(theirs.pvalue)


def test_paired_bootstrap_rejects_bad_input() -> None:
    y, pred = _preds(20, 0.7, seed=9)
    with pytest.raises(ValueError, match="class ids"):
        paired_bootstrap(y, pred, pred + 1, k=K)
    with pytest.raises(ValueError, match="row counts"):
        paired_bootstrap(y, pred, pred[:-1], k=K)
    with pytest.raises(ValueError, match="judge"):
        paired_bootstrap(y, pred, pred, k=K, metric="neg_log_loss")
