"""The TF-IDF + logistic regression baseline: fit, predict, save, load, and a run that ships it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import synthetic_rows

from ratchet.cli import main
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json
from ratchet.models.linear import LinearParams, LinearTextModel, fit_linear
from ratchet.models.linear_folder import save_linear
from ratchet.predictor import load_predictor

LABELS = ["negative", "neutral", "positive"]


def split_rows(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rows = synthetic_rows(n, seed=seed)
    return [r["review"] for r in rows], np.array([LABELS.index(r["sentiment"]) for r in rows])


def test_fit_picks_c_on_validation_and_learns_the_cues() -> None:
    texts, y = split_rows(90, seed=3)
    valid_texts, valid_y = split_rows(45, seed=4)
    fitted = fit_linear(texts, y, valid_texts, valid_y, 3, params=LinearParams(c_grid=(0.01, 1.0, 8.0)))
    assert [entry["C"] for entry in fitted.grid] == [0.01, 1.0, 8.0]
    best = max(fitted.grid, key=lambda entry: entry["valid_macro_f1"])
    assert best["C"] == fitted.model.C
    assert fitted.best_score == best["valid_macro_f1"]
    assert fitted.best_score > 0.9  # cue words make the task linear: chance is 1/3
    assert fitted.valid_probs.shape == (45, 3)
    assert fitted.valid_probs.dtype == np.float32
    np.testing.assert_allclose(fitted.valid_probs.sum(axis=1), 1.0, atol=1e-5)


def test_save_load_predict_roundtrip_through_the_shared_predictor(tmp_path: Path) -> None:
    texts, y = split_rows(60, seed=5)
    model = LinearTextModel(C=4.0).fit(texts, y, 3)
    save_linear(model, LABELS, tmp_path / "model", {"backbone": "linear"})
    assert read_json(tmp_path / "model" / "ratchet.json")["kind"] == "linear"
    assert read_json(tmp_path / "model" / "labels.json") == {"labels": LABELS, "kind": "str"}

    predictor = load_predictor(tmp_path / "model")
    assert predictor.labels == LABELS
    new_texts, _ = split_rows(20, seed=6)
    seen: list[int] = []
    probs = predictor.predict_probs(new_texts, on_rows=seen.append)
    np.testing.assert_allclose(probs, model.predict_proba(new_texts), rtol=1e-6)
    assert sum(seen) == 20
    assert predictor.predict_probs([]).shape == (0, 3)


def test_a_label_missing_from_training_gets_a_zero_column() -> None:
    texts, y = split_rows(60, seed=7)
    keep = y != 1
    model = LinearTextModel().fit([t for t, k in zip(texts, keep, strict=True) if k], y[keep], 3)
    probs = model.predict_proba(texts[:5])
    assert probs.shape == (5, 3)
    assert np.all(probs[:, 1] == 0)


def test_text_pairs_get_their_own_features_and_must_be_given() -> None:
    texts, y = split_rows(60, seed=8)
    pairs = [t.upper() for t in texts]
    model = LinearTextModel().fit(texts, y, 3, pairs=pairs)
    assert len(model.vectorizers_) == 2
    assert model.predict_proba(texts[:3], pairs[:3]).shape == (3, 3)
    with pytest.raises(RatchetError, match="text-pair"):
        model.predict_proba(texts[:3])


def test_a_baseline_only_run_ships_and_predicts(tmp_path: Path) -> None:
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(90, seed=1)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(30, seed=2)).to_csv(test, index=False)
    out = tmp_path / "run"
    steps = "clean,split,baseline,evaluate"
    assert main(["run", str(data), "--test", str(test), "--out", str(out), "--steps", steps, "--quiet"]) == 0
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["baseline"]["status"] == "completed"
    assert ledger["baseline"]["after"] > 0.9  # the floor is recorded in the ledger
    manifest = read_json(out / "steps" / "03-baseline" / "manifest.json")
    assert set(manifest["provides"]) == {"model.baseline", "model.current", "judged.baseline"}
    assert manifest["metrics"]["n_features"] > 0
    assert read_json(out / "model" / "ratchet.json")["kind"] == "linear"
    metrics = read_json(out / "metrics.json")["test"]
    assert metrics["n"] == 30 and metrics["macro_f1"] > 0.8

    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(out), str(test), "--out", str(predictions), "--quiet"]) == 0
    frame = pd.read_csv(predictions)
    assert len(frame) == 30
    np.testing.assert_allclose(frame[[f"prob_{label}" for label in LABELS]].sum(axis=1), 1.0, atol=1e-5)
    assert (frame["predicted_label"] == frame["sentiment"]).mean() == pytest.approx(metrics["accuracy"])
