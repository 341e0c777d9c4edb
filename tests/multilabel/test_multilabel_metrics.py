"""Multi-label metrics equal scikit-learn's; the gate's paired bootstrap judges label sets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_score, recall_score

from ratchet.evaluation.metrics import score
from ratchet.evaluation.multilabel_metrics import multilabel_metrics
from ratchet.evaluation.significance import judge


def sample(n: int = 300, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, k)) < 0.3).astype(np.int64)
    truth[truth.sum(1) == 0, 0] = 1
    probs = np.clip(truth * 0.55 + rng.random((n, k)) * 0.5, 0, 1).astype(np.float32)
    return truth, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_scikit_learn(seed) -> None:
    truth, probs = sample(seed=seed)
    pred = (probs >= 0.5).astype(np.int64)
    m = multilabel_metrics(truth, probs, [f"l{j}" for j in range(5)], n_bootstrap=200)
    for average in ("micro", "macro", "samples"):
        assert m[f"{average}_f1"] == pytest.approx(f1_score(truth, pred, average=average, zero_division=0))
        assert score(f"{average}_f1", truth, probs) == pytest.approx(m[f"{average}_f1"])
    assert m["subset_accuracy"] == pytest.approx(accuracy_score(truth, pred))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(truth, pred))
    assert score("hamming_loss", truth, probs) == pytest.approx(-hamming_loss(truth, pred))
    per_p = precision_score(truth, pred, average=None, zero_division=0)
    per_r = recall_score(truth, pred, average=None, zero_division=0)
    for j in range(5):
        label = m["per_label"][f"l{j}"]
        assert label["precision"] == pytest.approx(per_p[j]) and label["recall"] == pytest.approx(per_r[j])
        low, high = label["ci"]["precision"]
        assert low <= label["precision"] <= high
    low, high = m["ci"]["micro_f1"]
    assert low <= m["micro_f1"] <= high


def test_gate_keeps_a_clearly_better_label_set_model() -> None:
    truth, probs = sample(seed=4)
    worse = probs.copy()
    worse[:, :2] = 1 - worse[:, :2]  # two labels predicted backwards
    decision = judge(truth, worse, probs, metric="micro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500, seed=0,
                     stratified=True)  # fmt: skip
    assert decision.kept and decision.gain > 0.2 and decision.ci_low > 0
    reverse = judge(truth, probs, worse, metric="micro_f1", min_gain=0.0, confidence=0.8, n_bootstrap=500, seed=0)
    assert not reverse.kept
