"""Per-label decision thresholds: tuned per label, shipped in decision.json, applied by predictors."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.models.decision import Decision, fit_thresholds, threshold_scores


def calibrated_apart(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label 0's positives score 0.30 and negatives 0.10 (0.5 predicts none); label 1's positives 0.90 and
    negatives 0.60 (0.5 predicts all); label 2 is already separated at 0.5."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, 3)) < 0.4).astype(np.int64)
    noise = rng.normal(0, 0.02, size=(n, 3))
    probs = np.where(truth == 1, [0.30, 0.90, 0.80], [0.10, 0.60, 0.20]) + noise
    return truth, np.clip(probs, 0.01, 0.99).astype(np.float32)


def test_each_label_gets_its_own_threshold() -> None:
    truth, probs = calibrated_apart()
    thresholds = fit_thresholds(truth, probs, "micro_f1")
    assert 0.15 <= thresholds[0] <= 0.25
    assert 0.65 <= thresholds[1] <= 0.85
    assert thresholds[2] == 0.5  # a tie keeps 0.5: nothing to gain
    decided = Decision(thresholds=thresholds).label_sets(probs)
    assert np.array_equal(decided, truth)
    plain = Decision().label_sets(probs)
    assert plain[:, 0].sum() == 0 and plain[:, 1].all()


def test_threshold_scores_cross_half_exactly_at_the_threshold() -> None:
    probs = np.array([[0.19, 0.21, 0.69, 0.71]], dtype=np.float32)
    scores = threshold_scores(probs, np.array([0.2, 0.2, 0.7, 0.7]))
    assert (scores >= 0.5).tolist() == [[False, True, False, True]]


def test_thresholds_survive_save_and_load(tmp_path) -> None:
    Decision(thresholds=(0.2, 0.75)).save(tmp_path)
    assert Decision.load(tmp_path).thresholds == (0.2, 0.75)
    Decision(bias=(0.0, 1.0)).save(tmp_path / "single")
    assert "thresholds" not in (tmp_path / "single" / "decision.json").read_text()


def test_blend_weight_for_label_sets() -> None:
    """The baseline knows label 0, the fine-tune label 1: their average gets both right, either alone one."""
    from ratchet.steps.blend import best_weight, blend_score

    rng = np.random.default_rng(1)
    truth = (rng.random((200, 2)) < 0.5).astype(np.int64)
    truth[truth.sum(1) == 0, 0] = 1
    baseline = np.stack([np.where(truth[:, 0] == 1, 0.95, 0.05), np.full(200, 0.55)], axis=1)
    model = np.stack([np.full(200, 0.55), np.where(truth[:, 1] == 1, 0.95, 0.05)], axis=1)
    weight = best_weight(truth, baseline, model, "micro_f1")
    assert 0.0 < weight < 1.0
    # Scored as the gate judges label sets (per-label thresholds tuned on these rows): the blend is perfect,
    # either model alone is not (each has a label it cannot separate at any threshold).
    assert blend_score(truth, weight * baseline + (1 - weight) * model, "micro_f1") == 1.0
    assert blend_score(truth, baseline, "micro_f1") < 1.0 and blend_score(truth, model, "micro_f1") < 1.0


def test_sigmoid_temperature_undoes_overconfidence(tmp_path) -> None:
    from ratchet.evaluation.multilabel_metrics import row_binary_log_loss
    from ratchet.models.decision import fit_sigmoid_temperature, sigmoid_scaled

    rng = np.random.default_rng(2)
    honest = rng.uniform(0.05, 0.95, size=(2000, 3))
    truth = (rng.random((2000, 3)) < honest).astype(np.int64)
    overconfident = sigmoid_scaled(honest, 1 / 3)  # logits three times too large
    temperature = fit_sigmoid_temperature(truth, overconfident)
    assert 2.5 < temperature < 3.5
    calibrated = Decision(temperature=temperature, multilabel=True)
    assert row_binary_log_loss(truth, calibrated.calibrated(overconfident)).mean() < (
        row_binary_log_loss(truth, overconfident).mean()
    )
    calibrated.save(tmp_path)
    assert Decision.load(tmp_path) == calibrated


def test_balanced_label_weights_match_scikit_learn() -> None:
    import torch
    from sklearn.utils.class_weight import compute_class_weight

    from ratchet.training.optim import class_weights, classification_loss

    truth = np.array([[1, 0], [0, 0], [0, 1], [0, 1], [0, 0], [0, 1], [0, 0], [0, 1]])
    weights = class_weights(truth, 2)
    for label in range(2):
        expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=truth[:, label])
        assert np.allclose(weights[:, label], expected)
    logits = torch.zeros(8, 2)  # every sigmoid at 0.5: each element's loss is log 2, whatever its weight
    loss = classification_loss(logits, torch.from_numpy(truth), torch.ones(8), class_weight=torch.from_numpy(weights))
    expected = np.log(2) * (weights[truth, np.arange(2)]).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
