"""Metrics against scikit-learn on fixed arrays, plus hand-computed ECE and bootstrap behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from ratchet.errors import RatchetError
from ratchet.evaluation.curves import calibration
from ratchet.evaluation.metrics import (
    classification_metrics,
    format_table,
    macro_f1,
    score,
)


def _fixture(n: int, k: int, seed: int, never_predicted: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels + probabilities that are informative but imperfect (about 60-80% accurate)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    if never_predicted is not None:
        logits[:, never_predicted] -= 100.0  # this class can never win the argmax
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, probs / probs.sum(axis=1, keepdims=True)


CASES = {
    "three_classes": _fixture(80, 3, seed=1),
    "never_predicted": _fixture(60, 4, seed=2, never_predicted=3),
    "binary": _fixture(50, 2, seed=3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_sklearn(case: str) -> None:
    y, probs = CASES[case]
    k = probs.shape[1]
    labels = [f"c{i}" for i in range(k)]
    pred = probs.argmax(axis=1)
    got = classification_metrics(y, probs, labels, n_bootstrap=200)
    if case == "never_predicted":
        assert not (pred == 3).any() and (y == 3).any()  # the fixture really exercises zero_division
    lab = list(range(k))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=lab, average=avg, zero_division=0)
        assert got[f"{avg}_precision"] == pytest.approx(p)
        assert got[f"{avg}_recall"] == pytest.approx(r)
        assert got[f"{avg}_f1"] == pytest.approx(f)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=lab, zero_division=0)
    for i, name in enumerate(labels):
        cls = got["per_class"][name]
        assert (cls["precision"], cls["recall"], cls["f1"]) == pytest.approx((p[i], r[i], f[i]))
        assert cls["support"] == s[i]
    assert got["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=lab).tolist()
    expected_auc = skm.roc_auc_score(y, probs[:, 1]) if k == 2 else skm.roc_auc_score(y, probs, multi_class="ovr")
    assert got["roc_auc_ovr"] == pytest.approx(expected_auc)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, probs, labels=lab))
    assert got["labels"] == labels and got["n"] == len(y)
    assert macro_f1(y, pred, k) == pytest.approx(skm.f1_score(y, pred, labels=lab, average="macro"))
    json.dumps(got, allow_nan=False)  # JSON-able, no NaN


def test_score_names_and_sign() -> None:
    y, probs = CASES["three_classes"]
    pred = probs.argmax(axis=1)
    assert score("macro_f1", y, probs) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert score("weighted_f1", y, probs) == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert score("accuracy", y, probs) == pytest.approx(skm.accuracy_score(y, pred))
    assert score("neg_log_loss", y, probs) == pytest.approx(-skm.log_loss(y, probs))
    assert score("log_loss", y, probs) == score("neg_log_loss", y, probs) < 0  # higher is better
    with pytest.raises(RatchetError, match=r"unknown metric 'f2'.*use one of"):
        score("f2", y, probs)


def test_log_loss_clips_zero_probability() -> None:
    y = np.array([0, 1])
    probs = np.array([[1.0, 0.0], [1.0, 0.0]])  # row 2 puts probability 0 on the truth
    got = classification_metrics(y, probs, ["a", "b"], n_bootstrap=0)
    assert np.isfinite(got["log_loss"])
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, probs, labels=[0, 1]))
    assert got["ci"] is None


def test_auc_undefined_when_class_absent_from_truth() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    probs = np.full((6, 3), 0.2)
    probs[np.arange(6), y] = 0.6
    got = classification_metrics(y, probs, ["a", "b", "c"], n_bootstrap=50)
    assert got["roc_auc_ovr"] is None
    assert got["roc_curves"]["c"] is None and got["roc_curves"]["a"] is not None
    assert got["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_ece_hand_computed() -> None:
    # confidences 0.9 (right) and 0.88 (wrong) share bin (13/15, 14/15]; 0.85, 0.7, 0.55 are alone.
    probs = np.array([[0.9, 0.1], [0.15, 0.85], [0.3, 0.7], [0.55, 0.45], [0.88, 0.12]])
    y = np.array([0, 0, 1, 0, 1])  # right, wrong, right, right, wrong
    ece, bins = calibration(y, probs)
    # (2/5)|0.5 - 0.89| + (1/5)(|0 - 0.85| + |1 - 0.7| + |1 - 0.55|) = (0.78 + 0.85 + 0.3 + 0.45) / 5
    assert ece == pytest.approx(0.476)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 5
    assert bins[13]["count"] == 2
    assert bins[13]["confidence"] == pytest.approx(0.89) and bins[13]["accuracy"] == pytest.approx(0.5)
    assert bins[12]["accuracy"] == 0.0 and bins[0]["confidence"] is None


def test_roc_curves_downsampled_and_monotone() -> None:
    y, probs = _fixture(500, 3, seed=4)
    got = classification_metrics(y, probs, ["a", "b", "c"], n_bootstrap=0)
    for curve in got["roc_curves"].values():
        fpr, tpr = np.array(curve["fpr"]), np.array(curve["tpr"])
        assert 2 <= len(fpr) <= 50 and len(fpr) == len(tpr)
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    ys = (y == 1).astype(int)
    assert got["roc_curves"]["b"]["auc"] == pytest.approx(skm.roc_auc_score(ys, probs[:, 1]))


def test_bootstrap_ci_contains_estimate_and_narrows_with_n() -> None:
    widths = {}
    for n in (200, 5000):
        y, probs = _fixture(n, 3, seed=5)
        got = classification_metrics(y, probs, ["a", "b", "c"], n_bootstrap=500, seed=0)
        for key in ("accuracy", "macro_f1"):
            lo, hi = got["ci"][key]
            assert lo < got[key] < hi
        widths[n] = got["ci"]["accuracy"][1] - got["ci"]["accuracy"][0]
    # the width shrinks like 1/sqrt(n): 5x here; demand at least 3x
    assert widths[5000] < widths[200] / 3
    again = classification_metrics(*_fixture(200, 3, seed=5), ["a", "b", "c"], n_bootstrap=500, seed=0)
    assert again["ci"]["accuracy"][1] - again["ci"]["accuracy"][0] == widths[200]  # seeded: reproducible


def test_format_table_rows() -> None:
    y, probs = CASES["three_classes"]
    got = classification_metrics(y, probs, ["neg", "neu", "pos"], n_bootstrap=100)
    rows = dict(format_table(got))
    assert rows["rows"] == "80"
    assert rows["accuracy"].startswith(f"{got['accuracy']:.4f}") and "95% CI" in rows["accuracy"]
    assert "F1 neu" in rows and f"(support {got['per_class']['neu']['support']})" in rows["F1 neu"]


def test_rejects_mismatched_inputs() -> None:
    y, probs = CASES["binary"]
    with pytest.raises(ValueError, match="labels"):
        classification_metrics(y, probs, ["a", "b", "c"])
    with pytest.raises(ValueError, match="y_true ids"):
        classification_metrics(y + 5, probs, ["a", "b"])
