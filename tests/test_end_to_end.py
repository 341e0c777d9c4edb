"""Full runs through the CLI with tiny BERT, GPT-2 and T5 models: artifacts, metrics, predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN

from ratchet.cli import main
from ratchet.fsutil import read_json

STEPS = ["clean", "split", "train", "evaluate"]


def run_cli(data: Path, out: Path, model: Path, *extra: str) -> int:
    return main(["run", str(data), "--out", str(out), "--model", str(model), "--quiet", *FAST_TRAIN, *extra])


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_full_run_each_family(family, tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path) -> None:
    out = tmp_path / "run"
    extra = ("--test", str(sentiment_test_csv), "--steps", ",".join(STEPS))
    code = run_cli(sentiment_csv, out, tiny_model_dir(family), *extra)
    assert code == 0
    # The run folder holds what DESIGN.md promises.
    assert (out / "config.yaml").is_file()
    for name in ("train.parquet", "valid.parquet", "test.parquet", "labels.json", "data_report.json"):
        assert (out / "data" / name).is_file(), name
    for index, step in enumerate(STEPS):
        manifest = read_json(out / "steps" / f"{index + 1:02d}-{step}" / "manifest.json")
        assert manifest["status"] == ("kept" if step == "train" else "completed"), step
    labels = read_json(out / "model" / "labels.json")
    names = labels["labels"] if isinstance(labels, dict) else labels
    assert sorted(map(str, names)) == ["negative", "neutral", "positive"]
    assert (out / "model" / "ratchet.json").is_file()
    metrics = read_json(out / "metrics.json")["test"]
    assert metrics["n"] == 30
    for key in ("accuracy", "macro_f1", "confusion_matrix", "log_loss", "ece", "ci", "per_class"):
        assert key in metrics
    ledger = read_json(out / "ledger.json")
    assert [entry["step"] for entry in ledger] == STEPS
    train_entry = ledger[2]
    assert train_entry["after"] is not None
    # Training metrics carry telemetry for the report.
    train_manifest = read_json(out / "steps" / "03-train" / "manifest.json")
    assert train_manifest["metrics"]["telemetry"]["tokens_per_s"] > 0

    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(out), str(sentiment_test_csv), "--out", str(predictions), "--quiet"]) == 0
    frame = pd.read_csv(predictions)
    assert len(frame) == 30
    prob_cols = [c for c in frame.columns if c.startswith("prob_")]
    assert sorted(prob_cols) == ["prob_negative", "prob_neutral", "prob_positive"]
    np.testing.assert_allclose(frame[prob_cols].sum(axis=1), 1.0, atol=1e-4)
    assert set(frame["predicted_label"]) <= {"negative", "neutral", "positive"}
    # Predict agrees with the sealed evaluation on the same rows.
    test_preds = pd.read_parquet(out / "steps" / "04-evaluate" / "test_predictions.parquet")
    assert metrics["accuracy"] == pytest.approx(float((test_preds["label_id"] == test_preds["pred_id"]).mean()))


def test_tiny_bert_learns_the_synthetic_task(tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path) -> None:
    out = tmp_path / "run"
    extra = ("--test", str(sentiment_test_csv), "--steps", ",".join(STEPS), "train.epochs=12", "train.patience=12")
    assert run_cli(sentiment_csv, out, tiny_model_dir("bert"), *extra) == 0
    # Chance is 1/3: the cue words make the task easy, so a working loop clearly beats it.
    assert read_json(out / "metrics.json")["test"]["accuracy"] > 0.6


def test_integer_labels_and_a_split_test_set(tiny_model_dir, tmp_path) -> None:
    from ratchet_testing import synthetic_rows

    rows = synthetic_rows(90, seed=5)
    mapping = {"negative": 1, "neutral": 3, "positive": 5}
    frame = pd.DataFrame({"text": [r["review"] for r in rows], "rating": [mapping[r["sentiment"]] for r in rows]})
    data = tmp_path / "data.jsonl"
    frame.to_json(data, orient="records", lines=True)
    out = tmp_path / "run"
    assert run_cli(data, out, tiny_model_dir("bert"), "--steps", ",".join(STEPS)) == 0
    assert read_json(out / "data" / "labels.json")["labels"] == [1, 3, 5]
    assert (out / "data" / "test.parquet").is_file()
    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(out / "model"), str(data), "--out", str(predictions), "--quiet"]) == 0
    assert set(pd.read_csv(predictions).columns) >= {"prob_1", "prob_3", "prob_5", "predicted_label"}


def test_python_api_matches_the_cli_contract(tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path) -> None:
    from ratchet import Pipeline, RunConfig
    from ratchet.config import apply_overrides

    config = RunConfig(
        data=str(sentiment_csv),
        test=str(sentiment_test_csv),
        out=str(tmp_path / "api"),
        models=(str(tiny_model_dir("bert")),),
        steps=tuple(STEPS),
    )
    result = Pipeline.from_config(apply_overrides(config, FAST_TRAIN)).run()
    assert 0.0 <= result.metrics["test"]["macro_f1"] <= 1.0
    assert [entry["step"] for entry in result.ledger] == STEPS
