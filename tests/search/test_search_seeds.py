"""Seed robustness: k seeds in train, their spread, and the ensemble judged by the ratchet rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN, synthetic_rows

from ratchet.cli import main
from ratchet.fsutil import read_json
from ratchet.models.ensemble import load_ensemble_predictor, save_ensemble, seed_deadline, spread
from ratchet.models.linear import LinearTextModel
from ratchet.models.linear_folder import save_linear

LABELS = ["negative", "neutral", "positive"]


def test_ensemble_folder_averages_its_members(tmp_path: Path) -> None:
    rows = synthetic_rows(60, seed=61)
    texts, y = [r["review"] for r in rows], np.array([LABELS.index(r["sentiment"]) for r in rows])
    members = []
    for i, c in enumerate((0.1, 10.0)):
        model = LinearTextModel(C=c).fit(texts, y, 3)
        save_linear(model, LABELS, tmp_path / f"m{i}", {"backbone": "linear"})
        members.append(tmp_path / f"m{i}")
    save_ensemble(members, tmp_path / "ensemble")
    meta = read_json(tmp_path / "ensemble" / "ratchet.json")
    assert meta["kind"] == "ensemble" and meta["members"] == 2
    predictor = load_ensemble_predictor(tmp_path / "ensemble")
    assert predictor.labels == LABELS
    seen: list[int] = []
    probs = predictor.predict_probs(texts[:7], on_rows=seen.append)
    parts = [load_ensemble_predictor(tmp_path / "ensemble").members[i].predict_probs(texts[:7]) for i in (0, 1)]
    np.testing.assert_allclose(probs, (parts[0] + parts[1]) / 2, rtol=1e-6)
    assert not np.allclose(parts[0], parts[1])  # two different members, really averaged
    assert seen == [7]  # rows counted once, not once per member


def test_spread_and_deadline_shares() -> None:
    assert spread([0.5, 0.7]) == {"n": 2, "mean": 0.6, "std": pytest.approx(0.1414, abs=1e-4), "min": 0.5, "max": 0.7}
    assert spread([0.5])["std"] == 0.0
    assert seed_deadline(None, 3, now=100.0) is None
    assert seed_deadline(160.0, 3, now=100.0) == 120.0  # a third of the time left
    assert seed_deadline(90.0, 2, now=100.0) == 100.0  # past: no time


def test_the_ensemble_step_records_the_spread_and_ships_a_kept_ensemble(tiny_model_dir, tmp_path) -> None:
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(60, seed=62)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(15, seed=63)).to_csv(test, index=False)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--quiet", "--seed", "7"]
    args += ["--model", str(tiny_model_dir("bert")), "--steps", "clean,split,train,ensemble,evaluate", *FAST_TRAIN]
    # A gate that keeps any candidate, so the shipping path is exercised whatever the scores.
    args += ["train.epochs=2", "search.seeds=2", "gate.min_gain=-1", "gate.confidence=0"]
    assert main(args) == 0
    train = read_json(out / "steps" / "03-train" / "manifest.json")["metrics"]
    metrics = read_json(out / "steps" / "04-ensemble" / "manifest.json")["metrics"]
    assert [s["seed"] for s in metrics["seeds"]] == [7, 8]
    # Seed 7 is train's own fine-tune, read back from the fit cache, not trained again.
    assert metrics["seeds"][0]["valid_macro_f1"] == train["best_valid_macro_f1"]
    spread_ = metrics["seed_spread"]
    assert spread_["n"] == 2 and spread_["min"] <= spread_["mean"] <= spread_["max"]
    ledger = {e["step"]: e for e in read_json(out / "ledger.json")}
    assert ledger["ensemble"]["status"] == "kept" and ledger["ensemble"]["seed_spread"] == spread_
    assert read_json(out / "model" / "ratchet.json")["kind"] == "ensemble"
    members = load_ensemble_predictor(out / "model").members
    assert len(members) == 2
    assert read_json(out / "metrics.json")["test"]["n"] == 15
