"""ratchet compare of two multi-label runs: the label-set metrics of multilabel_metrics, paired on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from multilabel_models import LABELS, cue_rows

from ratchet.cli import main
from ratchet.evaluation.multilabel_metrics import multilabel_metrics
from ratchet.reporting.compare import compare_runs
from ratchet.reporting.compare_multilabel import label_matrix

STEPS = "clean,split,baseline,evaluate"


def write_sets(path: Path, n: int, seed: int, noise: float = 0.0) -> None:
    """cue_rows (one or two labels each: a run refuses empty sets) as a CSV of JSON label lists; ``noise``: the
    share of rows whose label set is replaced by one random label (a model trained on them learns less)."""
    texts, sets = cue_rows(n, seed, min_labels=1)
    rng = np.random.default_rng(seed + 100)
    for row in np.flatnonzero(rng.random(n) < noise):
        sets[row] = np.eye(len(LABELS), dtype=np.int64)[rng.integers(len(LABELS))]
    labels = [json.dumps([LABELS[j] for j in np.flatnonzero(row)]) for row in sets]
    pd.DataFrame({"text": texts, "labels": labels}).to_csv(path, index=False)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("compare")
    test = root / "test.csv"
    write_sets(test, 60, seed=7)
    runs = []
    for name, n, noise in (("a", 40, 0.6), ("b", 160, 0.0)):
        data = root / f"{name}.csv"
        write_sets(data, n, seed=len(runs), noise=noise)
        out = root / name
        assert main(["run", str(data), "--test", str(test), "--out", str(out), "--model", "linear", "--quiet",
                     "--steps", STEPS, "gate.folds=holdout"]) == 0  # fmt: skip
        runs.append(out)
    return runs[0], runs[1]


def predictions(run: Path) -> pd.DataFrame:
    return pd.read_parquet(next((run / "steps").glob("*-evaluate/test_predictions.parquet")))


def test_compare_reports_the_multilabel_metrics_of_each_run(two_runs) -> None:
    a, b = two_runs
    result = compare_runs(a, b, n_bootstrap=300, seed=1)
    assert result["task"] == "multilabel" and result["n"] == 60 and result["labels"] == LABELS
    for run, side in ((a, "a"), (b, "b")):
        rows = predictions(run)
        y, decided = label_matrix(rows["label_id"]), label_matrix(rows["pred_id"])
        probs = rows[[f"prob_{label}" for label in LABELS]].to_numpy()
        expected = multilabel_metrics(y, probs, LABELS, n_bootstrap=0, y_pred=decided)
        for name in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"):
            assert result["metrics"][name][side] == pytest.approx(expected[name]), name
    micro = result["metrics"]["micro_f1"]
    # B learned the cue words from clean rows, A from rows whose sets are mostly random: B is better.
    assert micro["b"] == 1.0 and micro["a"] < 0.9 and micro["ci"][0] > 0 and micro["p_better"] > 0.99
    hamming = result["metrics"]["hamming_loss"]
    assert hamming["gain"] == pytest.approx(hamming["b"] - hamming["a"]) and hamming["gain"] < 0
    exact_a = (label_matrix(predictions(a)["pred_id"]) == label_matrix(predictions(a)["label_id"])).all(axis=1)
    assert result["mcnemar"]["b_right_a_wrong"] == int((~exact_a).sum())  # B gets every set right
    assert result["verdict"].startswith("B is better")


def test_the_cli_prints_the_label_set_table(two_runs, capsys) -> None:
    a, b = two_runs
    assert main(["compare", str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "subset_accuracy" in printed and "hamming_loss" in printed and "exact label set" in printed
    assert main(["compare", str(a), str(a), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["metrics"]["micro_f1"]["gain"] == 0.0
    assert same["verdict"] == "no significant difference on this test set"
