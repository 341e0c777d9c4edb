"""predict never changes an input column, keeps numeric labels numeric, and writes the format asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from ratchet_testing import synthetic_rows

from ratchet.cli import main
from ratchet.fsutil import read_json

NUMERIC = {"negative": "1.0", "neutral": "2.0", "positive": "3.0"}


def float_label_run(tmp_path: Path) -> tuple[Path, Path]:
    """A baseline-only run on labels written 1.0 / 2.0 / 3.0, and a test file with a gold `label` column."""
    rows = synthetic_rows(90, seed=1)
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": [r["review"] for r in rows], "label": [NUMERIC[r["sentiment"]] for r in rows]}).to_csv(
        data, index=False
    )
    test_rows = synthetic_rows(30, seed=2)
    texts = [r["review"] for r in test_rows]
    texts[0] = '=HYPERLINK("http://evil") ' + texts[0]  # a spreadsheet formula in the user's own text
    test = tmp_path / "test.csv"
    pd.DataFrame({"text": texts, "label": [NUMERIC[r["sentiment"]] for r in test_rows]}).to_csv(test, index=False)
    out = tmp_path / "run"
    assert main(["run", str(data), "--test", str(test), "--out", str(out), "--steps", "clean,split,baseline,evaluate",
                 "--quiet"]) == 0  # fmt: skip
    return out, test


def test_float_labels_stay_numbers_and_the_gold_column_is_untouched(tmp_path: Path) -> None:
    out, test = float_label_run(tmp_path)
    assert read_json(out / "data" / "labels.json") == {"labels": [1.0, 2.0, 3.0], "kind": "float"}
    assert read_json(out / "model" / "labels.json") == {"labels": [1.0, 2.0, 3.0], "kind": "float"}
    before = test.read_bytes()
    predictions = tmp_path / "pred.jsonl"
    assert main(["predict", str(out), str(test), "--out", str(predictions), "--quiet"]) == 0
    assert test.read_bytes() == before
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    source = pd.read_csv(test, dtype=str, keep_default_na=False)
    assert [row["label"] for row in rows] == source["label"].tolist()  # the input's column, as it was
    assert [row["text"] for row in rows] == source["text"].tolist()  # JSON keeps texts exact
    assert {row["predicted_label"] for row in rows} <= {1.0, 2.0, 3.0}
    assert all(isinstance(row["predicted_label"], float) for row in rows)
    assert list(rows[0])[-4:] == ["predicted_label", "prob_1.0", "prob_2.0", "prob_3.0"]


def test_csv_output_neutralises_formulas_and_parquet_keeps_them(tmp_path: Path) -> None:
    out, test = float_label_run(tmp_path)
    assert main(["predict", str(out), str(test), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert main(["predict", str(out), str(test), "--out", str(tmp_path / "p.parquet"), "--quiet"]) == 0
    csv_text = pd.read_csv(tmp_path / "p.csv", dtype=str)["text"].iloc[0]
    assert csv_text.startswith("'=HYPERLINK(")
    assert pd.read_parquet(tmp_path / "p.parquet")["text"].iloc[0].startswith("=HYPERLINK(")
