"""Temperature and class biases: fitted right, applied by every predictor, judged without peeking."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.evaluation.curves import calibration
from ratchet.evaluation.metrics import score
from ratchet.models.decision import Decision, cross_fitted, fit_bias, fit_temperature, softmax


def overconfident(n: int = 3000, seed: int = 0, temperature: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) but reported as softmax(z * temperature): too sure of themselves."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * 1.5
    true = softmax(logits).astype(np.float64)
    true /= true.sum(1, keepdims=True)  # float32 rounding: choice wants sums of exactly 1
    y = np.array([rng.choice(3, p=p) for p in true])
    return y, softmax(logits * temperature)


def test_the_temperature_undoes_overconfidence() -> None:
    y, probs = overconfident()
    t = fit_temperature(y, probs)
    assert t == pytest.approx(3.0, rel=0.15)
    fixed = Decision(temperature=t).calibrated(probs)
    assert calibration(y, fixed)[0] < calibration(y, probs)[0] / 2
    np.testing.assert_array_equal(fixed.argmax(1), probs.argmax(1))  # no decision changes


def test_biases_raise_macro_f1_where_a_rare_class_is_never_predicted() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(3, size=2000, p=[0.6, 0.3, 0.1])
    # The rare class 2 is ranked well but never wins the argmax: its probability is capped below the others'.
    probs = np.full((2000, 3), 0.05)
    probs[np.arange(2000), y] = 0.6
    probs[y == 2, 2], probs[y == 2, 0] = 0.35, 0.45
    probs[y != 2, 2] = 0.2
    probs /= probs.sum(1, keepdims=True)
    assert (probs.argmax(1) == 2).sum() == 0
    bias = fit_bias(y, probs)
    decided = Decision(bias=bias).decide(probs)
    assert bias[0] == 0.0 and bias[2] > 0
    assert score("macro_f1", y, np.eye(3)[decided]) > score("macro_f1", y, probs) + 0.2


def test_balanced_confident_predictions_get_no_bias() -> None:
    y = np.repeat([0, 1, 2], 50)
    probs = np.eye(3)[y] * 0.8 + 0.1 / 1.5
    assert fit_bias(y, probs) == (0.0, 0.0, 0.0)


def test_cross_fitted_decisions_never_use_their_own_fold() -> None:
    y = np.array([0, 1] * 50)
    probs = np.tile([[0.5, 0.5]], (100, 1))
    folds = np.repeat([0, 1], 50)
    seen: list[np.ndarray] = []

    def make(yy: np.ndarray, pp: np.ndarray) -> Decision:
        seen.append(yy)
        return Decision()

    out = cross_fitted(y, probs, folds, make)
    assert [len(s) for s in seen] == [50, 50] and out.shape == probs.shape


def test_a_decision_round_trips_through_its_file(tmp_path) -> None:
    Decision(temperature=1.7, bias=(0.0, 0.4, -0.2)).save(tmp_path)
    assert Decision.load(tmp_path) == Decision(1.7, (0.0, 0.4, -0.2))
    assert Decision.load(tmp_path / "missing") == Decision()
