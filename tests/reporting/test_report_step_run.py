"""The report step inside real (tiny) runs: report.html, validation error analysis, tracking, resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
from headless_chromium import CHROMIUM, open_page, table_rows

from ratchet.cli import main

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
# Same as tests/ratchet_testing.py FAST_TRAIN, kept local on purpose.
FAST_TRAIN = [
    "train.epochs=3",
    "train.min_steps=0",
    "train.learning_rate=0.003",
    "gate.folds=holdout",
    "train.max_length=32",
    "train.max_tokens=512",
]


def run_cli(data: Path, out: Path, *extra: str) -> int:
    return main(["run", str(data), "--out", str(out), "--quiet", *extra, *FAST_TRAIN])


def test_report_step_on_a_tiny_run(tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path) -> None:
    out = tmp_path / "run"
    steps = "clean,split,train,evaluate,report"
    track = ["--track", "tensorboard"] if HAS_TENSORBOARD else []
    model = str(tiny_model_dir("bert"))
    assert (
        run_cli(sentiment_csv, out, "--model", model, "--test", str(sentiment_test_csv), "--steps", steps, *track) == 0
    )

    ledger = json.loads((out / "ledger.json").read_text())
    assert [e["step"] for e in ledger][-1] == "report" and ledger[-1]["status"] == "completed"
    report = out / "report.html"
    html = report.read_text()
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert f">{test['macro_f1']:.4f}<" in html
    # The step scored the shipped model on validation (never the test) for the error analysis.
    valid = pd.read_parquet(out / "data" / "valid.parquet")
    scored = pd.read_parquet(out / "steps" / "05-report" / "valid_predictions.parquet")
    assert len(scored) == len(valid) and (scored["label_id"] == valid["label_id"]).all()
    probs = scored[[f"prob_{label}" for label in ("negative", "neutral", "positive")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert f"Predictions of the shipped model on {len(valid)} validation rows" in html
    manifest = json.loads((out / "steps" / "05-report" / "manifest.json").read_text())
    assert "data.test" not in manifest["inputs"]
    if HAS_TENSORBOARD:
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))
        assert "tensorboard" in manifest["metrics"]["tracked"]

    if CHROMIUM is not None:
        page = open_page(report)
        assert page.console == []
        rows, _ = table_rows(page.dom, "ledger-table")
        train = next(row for row in rows if row[0] == "train")
        assert f"{ledger[2]['after']:.4f}" in train
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "report-tiny-run.png"
        assert open_page(report, screenshot=shot, size="1280,3000").console == []
        assert shot.stat().st_size > 50_000

    # --resume: nothing changed, so the report step is skipped and its report stays.
    before = report.stat().st_mtime_ns
    assert (
        run_cli(
            sentiment_csv,
            out,
            "--model",
            model,
            "--test",
            str(sentiment_test_csv),
            "--steps",
            steps,
            *track,
            "--resume",
        )
        == 0
    )
    assert report.stat().st_mtime_ns == before


def test_report_step_in_a_run_without_a_model(sentiment_csv, sentiment_test_csv, tmp_path) -> None:
    out = tmp_path / "run"
    assert run_cli(sentiment_csv, out, "--test", str(sentiment_test_csv), "--steps", "clean,split,report") == 0
    html = (out / "report.html").read_text()
    assert 'id="data"' in html and 'id="test"' not in html and 'id="errors"' not in html
    assert not (out / "steps" / "03-report" / "valid_predictions.parquet").exists()
