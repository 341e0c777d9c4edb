"""ratchet.load of a multi-label model: label lists from predict, the sigmoid matrix from predict_proba."""

from __future__ import annotations

import numpy as np
from multilabel_models import LABELS, one_vs_rest_folder

import ratchet
from ratchet.models.decision import Decision


def test_load_predicts_label_lists_and_sigmoid_probabilities(tmp_path) -> None:
    folder = one_vs_rest_folder(tmp_path / "linear", Decision(thresholds=(0.5, 0.5, 0.4), multilabel=True))
    model = ratchet.load(folder)
    texts = ["senate and football", "a laptop", "the of and"]
    assert model.multilabel and model.thresholds == [0.5, 0.5, 0.4]
    assert model.predict(texts) == [["politics", "sports"], ["tech"], []]
    probs = model.predict_proba(texts)
    assert probs.shape == (3, 3) and not np.allclose(probs.sum(axis=1), 1.0)  # independent sigmoids
    np.testing.assert_array_equal(model.predict_indicator(texts), [[1, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert list(model.classes_) == LABELS
