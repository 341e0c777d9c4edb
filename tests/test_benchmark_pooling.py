"""benchmarks/pooled_seeds.py: the pooled gain over seeds is the mean of the per-seed macro-F1 gains."""

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pooled_seeds.py"


def _module():
    spec = importlib.util.spec_from_file_location("pooled_seeds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed(rng: np.random.Generator, n: int, ours_right: float, theirs_right: float):
    truth = rng.integers(0, 2, n)
    flip = lambda share: np.where(rng.random(n) < share, truth, 1 - truth)  # noqa: E731
    return truth, flip(ours_right), flip(theirs_right)


def test_pooled_gain_is_the_mean_of_per_seed_gains_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    pairs = [_seed(rng, 400, 0.85, 0.75), _seed(rng, 300, 0.80, 0.78)]
    result = _module().pooled_gain(pairs, n_bootstrap=500)
    expected = [f1_score(t, o, average="macro") - f1_score(t, h, average="macro") for t, o, h in pairs]
    assert result["per_seed_gain"] == [round(g, 4) for g in expected]
    assert result["mean_gain"] == round(float(np.mean(expected)), 4)
    assert result["ci"][0] < result["mean_gain"] < result["ci"][1]
    assert result["ci"][0] > 0 and result["p_better"] > 0.97  # a 0.06 mean gain on 700 rows is clear


def test_identical_predictions_pool_to_no_gain():
    rng = np.random.default_rng(1)
    truth, ours, _ = _seed(rng, 200, 0.8, 0.8)
    result = _module().pooled_gain([(truth, ours, ours.copy())] * 3, n_bootstrap=200)
    assert result["mean_gain"] == 0.0 and result["ci"] == [0.0, 0.0] and result["p_better"] == 0.0


def test_the_sealed_test_pair_comes_from_the_latest_evaluate(tmp_path: Path):
    """A --resume with another recipe leaves the earlier evaluate folder behind, under a higher number."""
    import json
    import sys

    import pandas as pd

    sys.path.insert(0, str(SCRIPT.parent))
    from chinese_adaptation import sealed_test_pair

    truth = np.array([0, 1, 1, 0])
    for folder, preds, finished in (("05-evaluate", [0, 1, 1, 1], 200.0), ("06-evaluate", [1, 1, 1, 1], 100.0)):
        step = tmp_path / "runs" / "v" / "steps" / folder
        step.mkdir(parents=True)
        pd.DataFrame({"label_id": truth, "pred_id": preds}).to_parquet(step / "test_predictions.parquet")
        (step / "manifest.json").write_text(json.dumps({"finished_at": finished}))
    np.save(tmp_path / "tfidf_test_predictions.npy", np.array([0, 0, 1, 0]))
    got_truth, ours, theirs = sealed_test_pair(tmp_path, "v")
    assert ours.tolist() == [0, 1, 1, 1]  # 05 finished last: the run's current evaluate
    assert got_truth.tolist() == truth.tolist() and theirs.tolist() == [0, 0, 1, 0]
