"""Out-of-fold probabilities: folds, no row scored by a model that saw it, C selection, features."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.relabel.features import embed, tfidf_features
from ratchet.relabel.oof import fit_predict, fold_ids, linear_oof


def test_folds_are_stratified_and_balanced() -> None:
    labels = np.array([0] * 50 + [1] * 7 + [2] * 3)
    folds = fold_ids(labels, 5, seed=0)
    assert np.bincount(folds).tolist() == [12] * 5
    for k in (0, 1, 2):
        per_fold = np.bincount(folds[labels == k], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1
    assert np.array_equal(folds, fold_ids(labels, 5, seed=0))


def test_out_of_fold_scores_do_not_memorize() -> None:
    # Random features and random labels: in-sample a flexible model fits them, out of fold it cannot.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 200))
    y = rng.integers(0, 2, 300)
    in_sample = fit_predict(x, y, x, 2, C=1.0)
    assert np.mean(in_sample.argmax(1) == y) > 0.95
    oof, detail = linear_oof(x, y, 2, folds=5, seed=0)
    assert 0.35 < np.mean(oof.argmax(1) == y) < 0.65
    assert detail["C"] in (0.01, 0.1, 1.0) and set(detail["log_loss_by_C"]) == {"0.01", "0.1", "1.0"}
    assert oof.shape == (300, 2) and np.allclose(oof.sum(1), 1.0, atol=1e-5)


def test_learnable_features_give_confident_oof() -> None:
    texts = [f"{'good great' if i % 2 else 'bad awful'} filler {i}" for i in range(80)]
    y = np.arange(80) % 2
    f = tfidf_features(texts, texts[:10])
    oof, _ = linear_oof(f.train, y, 2, folds=4, seed=0, kind="tfidf")
    assert np.mean(oof.argmax(1) == y) == 1.0
    # A class missing from a training fold gets probability 0, never an error.
    probs = fit_predict(f.train[:40], np.zeros(40, dtype=int), f.valid, 3, C=1.0)
    assert probs.shape == (10, 3) and np.all(probs[:, 0] == 1.0)


@pytest.mark.parametrize("family", ["bert", "t5"])
def test_embeddings_from_a_tiny_backbone(tiny_model_dir, family: str, monkeypatch) -> None:
    texts = ["the drug helped a lot", "awful pain", "ok i guess", "the drug helped a lot"]
    vectors = embed(str(tiny_model_dir(family)), texts, max_length=16)
    assert vectors is not None and vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert np.allclose(vectors[0], vectors[3], atol=1e-5) and not np.allclose(vectors[0], vectors[1])
    # Projected past its time limit, embedding gives up (the step then falls back to TF-IDF).
    monkeypatch.setattr("ratchet.relabel.features.PROJECT_AFTER_S", 0.0)
    assert embed(str(tiny_model_dir(family)), texts * 100, max_length=16, max_tokens=64, time_limit=1e-9) is None
