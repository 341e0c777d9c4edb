"""blend: a weight chosen without peeking, a weighted ensemble that predicts what was judged."""

from __future__ import annotations

import numpy as np
from ratchet_testing import synthetic_rows

from ratchet.models.ensemble import load_ensemble_predictor, save_ensemble
from ratchet.models.linear import LinearTextModel
from ratchet.models.linear_folder import save_linear
from ratchet.steps.blend import best_weight

LABELS = ["negative", "neutral", "positive"]


def test_the_weight_favours_the_better_model_and_ties_keep_the_fine_tune() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    good = np.eye(3)[y] * 0.6 + 0.4 / 3
    noisy = np.eye(3)[rng.integers(0, 3, 400)] * 0.6 + 0.4 / 3
    assert best_weight(y, good, noisy, "macro_f1") >= 0.6  # the baseline is the better one here
    assert best_weight(y, noisy, good, "macro_f1") == 0.0  # the fine-tune alone is best: no weight
    assert best_weight(y, good, good.copy(), "macro_f1") == 0.0  # no reason to change: the smaller weight


def test_a_weighted_ensemble_folder_weighs_its_members(tmp_path) -> None:
    rows = synthetic_rows(60, seed=61)
    texts, y = [r["review"] for r in rows], np.array([LABELS.index(r["sentiment"]) for r in rows])
    members = []
    for i, c in enumerate((0.1, 10.0)):
        save_linear(LinearTextModel(C=c).fit(texts, y, 3), LABELS, tmp_path / f"m{i}", {"backbone": "linear"})
        members.append(tmp_path / f"m{i}")
    save_ensemble(members, tmp_path / "blend", weights=[0.7, 0.3])
    predictor = load_ensemble_predictor(tmp_path / "blend")
    parts = [member.predict_probs(texts[:9]) for member in predictor.members]
    np.testing.assert_allclose(predictor.predict_probs(texts[:9]), 0.7 * parts[0] + 0.3 * parts[1], rtol=1e-6)
