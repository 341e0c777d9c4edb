"""The few-shot candidate inside select (judged out of fold, like every candidate) and shipped by train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import synthetic_rows

from ratchet.cli import main
from ratchet.fsutil import read_json

FAST_FEWSHOT = ["fewshot.max_pairs=300", "fewshot.max_length=32", "fewshot.learning_rate=0.01"]
FAST_TRAIN = [
    "train.epochs=2",
    "train.min_steps=0",
    "train.learning_rate=0.003",
    "train.max_length=32",
    "train.max_tokens=512",
]


def write_data(tmp_path: Path, n: int) -> tuple[Path, Path]:
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(n, seed=21)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(30, seed=22)).to_csv(test, index=False)
    return data, test


@pytest.fixture
def recorded_fits(monkeypatch):
    """Every few-shot fit's training and judged texts, the real fit still running."""
    import ratchet.fewshot.fit as fit_module

    calls: list[tuple[list[str], list[str]]] = []
    real = fit_module.fit_fewshot

    def spy(backbone, data, params, **kwargs):
        calls.append((list(data.train.texts), list(data.valid.texts)))
        return real(backbone, data, params, **kwargs)

    monkeypatch.setattr(fit_module, "fit_fewshot", spy)
    return calls


def run_select(tmp_path: Path, model: Path, *extra: str) -> Path:
    data, test = write_data(tmp_path, 72)  # 24 rows a class
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--steps", "clean,split,baseline,select"]
    # Folds in turn: the spy below records fits in this process (forked fold workers would fit out of its sight).
    args += ["--model", str(model), "--quiet", "select.include_default=false", "gate.folds=3", "gate.fold_workers=1"]
    assert main([*args, *FAST_TRAIN, *FAST_FEWSHOT, *extra]) == 0
    return out


def test_few_classes_add_the_candidate_judged_on_the_same_out_of_fold_rows(tiny_dirs, tmp_path, recorded_fits):
    out = run_select(tmp_path, tiny_dirs["sbert"])
    metrics = read_json(out / "steps" / "04-select" / "manifest.json")["metrics"]
    assert metrics["fewshot"]["entered"] and "fewer than fewshot.enter_below=40" in metrics["fewshot"]["reason"]
    name = f"fewshot:{tiny_dirs['sbert']}"
    row = next(c for c in metrics["candidates"] if c["name"] == name)
    assert row["kind"] == "fewshot" and row["fits"][0]["folds"] == 3
    # One fit per fold: never judged on a row it trained on, and the judged rows cover the pool exactly once.
    assert len(recorded_fits) == 3
    pool = pd.read_parquet(out / "data" / "train.parquet")["text"].tolist()
    pool += pd.read_parquet(out / "data" / "valid.parquet")["text"].tolist()
    judged = [text for _, valid in recorded_fits for text in valid]
    assert sorted(judged) == sorted(pool)
    assert all(not set(train) & set(valid) for train, valid in recorded_fits)
    # Its score is on the same judged rows as the last rung's (cross-fitted, every pool row).
    probs = np.load(out / "steps" / "04-select" / "fits" / f"{row['fits'][0]['key']}.npy")
    assert probs.shape == (len(pool), 3) and not np.isnan(probs).any()
    final = metrics["fewshot"]["final"]
    assert set(final) == {name, metrics["rungs"][-1]["kept"][0] if metrics["winner"] == name else metrics["winner"]}
    assert metrics["rungs"][-1]["epochs"] == 2.0  # the rival was fully trained (its last rung)
    # Each fold's checkpoint is one folder, gone after its fit, though the model's name is a path.
    assert not [p.name for p in (out / "steps" / "04-select").iterdir() if p.name.startswith("checkpoint")]
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["select"]["picked"].startswith(f"picked {metrics['winner']}")


def test_enough_rows_a_class_keep_it_out(tiny_dirs, tmp_path, recorded_fits):
    out = run_select(tmp_path, tiny_dirs["sbert"], "fewshot.enter_below=10")
    metrics = read_json(out / "steps" / "04-select" / "manifest.json")["metrics"]
    assert not metrics["fewshot"]["entered"] and "not fewer than fewshot.enter_below=10" in metrics["fewshot"]["reason"]
    assert all(c["kind"] != "fewshot" for c in metrics["candidates"]) and recorded_fits == []
    assert "method" not in read_json(out / "steps" / "04-select" / "backbone.json")


def test_when_it_wins_train_ships_it_in_the_usual_format_and_predict_reads_it(tiny_dirs, tmp_path):
    data, test = write_data(tmp_path, 90)
    out = tmp_path / "run"
    steps = "clean,split,select,search,train,ensemble,evaluate,report"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--steps", steps]
    args += ["--model", str(tiny_dirs["sbert"]), "--quiet", "select.include_default=false", "gate.folds=holdout"]
    args += ["select.include_linear=false", "fewshot.enter=always", *FAST_TRAIN, *FAST_FEWSHOT]  # about shipping
    # A standard fine-tune that cannot move (learning rate ~0) against the few-shot fit: the answer is known.
    assert main([*args, "train.learning_rate=1e-9", "train.epochs=1", "search.n_trials=2", "search.seeds=2"]) == 0
    choice = read_json(out / "steps" / "03-select" / "backbone.json")
    assert choice["method"] == "fewshot" and choice["model"] == str(tiny_dirs["sbert"])
    meta = read_json(out / "model" / "ratchet.json")
    assert (meta["method"], meta["head"], meta["fewshot"]["max_pairs"]) == ("fewshot", "mean", 300)
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["select"]["picked"].startswith(f"picked fewshot:{tiny_dirs['sbert']}")
    assert "few-shot" in ledger["train"]["shipped"] and ledger["train"]["status"] == "kept"
    # search and ensemble tune or repeat standard fine-tunes: not for a few-shot pick, and the ledger says why.
    assert ledger["search"]["status"] == ledger["ensemble"]["status"] == "skipped"
    assert "few-shot" in ledger["search"]["note"] and "few-shot" in ledger["ensemble"]["note"]
    train = read_json(out / "steps" / "05-train" / "manifest.json")["metrics"]
    assert train["crossfit"]["reused_folds"] == 1  # select's fit, read back from the run's cache
    # It learned the cues: chance is 1/3, and 6 seeds on this machine gave 0.63-0.83 (another CPU's rounding: 0.57).
    assert read_json(out / "metrics.json")["test"]["macro_f1"] > 0.45
    assert "picked fewshot:" in (out / "report.html").read_text(encoding="utf-8")  # the ledger table says so
    # predict reads the shipped few-shot model: the same probabilities evaluate scored on the sealed test.
    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(out), str(test), "--out", str(predictions), "--quiet"]) == 0
    predicted = pd.read_csv(predictions)
    evaluated = pd.read_parquet(out / "steps" / "07-evaluate" / "test_predictions.parquet")
    columns = [column for column in evaluated.columns if column.startswith("prob_")]
    assert len(predicted) == 30 and len(columns) == 3
    np.testing.assert_allclose(predicted[columns].to_numpy(), evaluated[columns].to_numpy(), atol=1e-5)


def test_the_fast_preset_races_nothing_and_lets_only_the_few_shot_candidate_face_the_model(tmp_path) -> None:
    from ratchet.config import RunConfig
    from ratchet.step_builders import build_steps

    def select_of(**settings) -> object:
        config = RunConfig(data="d.csv", out=str(tmp_path / "run"), models=("m",), **settings)
        return next(step for step in build_steps(config) if step.name == "select")

    assert select_of().params.candidates == ("m",)  # fast, the default preset
    assert select_of(preset="balanced").params.candidates == ("m", "default", "linear")
    named = select_of(steps=("clean", "split", "baseline", "select", "train", "evaluate"))
    assert named.params.candidates == ("m", "default", "linear")  # a recipe that names select races


def test_the_fast_preset_without_few_shot_data_fits_nothing_in_select(tiny_dirs, tmp_path, recorded_fits) -> None:
    data, test = write_data(tmp_path, 72)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--model", str(tiny_dirs["sbert"]), "--quiet"]
    args += ["gate.folds=3", "fewshot.enter_below=10", "chunk.threshold=1", *FAST_TRAIN]
    assert main(args) == 0
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    metrics = read_json(out / "steps" / "04-select" / "manifest.json")["metrics"]
    assert [c["name"] for c in metrics["candidates"]] == [str(tiny_dirs["sbert"])]
    assert metrics["candidates"][0]["fits"] == [] and metrics["rungs"] == [] and recorded_fits == []
    assert metrics["note"] is None  # nothing was raced, so nothing ran out of time
    assert not metrics["fewshot"]["entered"]
    assert ledger["select"]["picked"] == f"picked {tiny_dirs['sbert']}"
    # train then fits the one model on every fold, as the fast preset did before it had select.
    assert ledger["train"]["crossfit"]["folds_run"] == 3 and ledger["train"]["crossfit"]["reused_folds"] == 0


def test_a_few_shot_fit_that_faced_no_fine_tune_does_not_win(tiny_dirs, tmp_path, monkeypatch) -> None:
    """Under a time budget select may measure no fine-tune: the few-shot candidate then faced only the linear
    model, and beating it says nothing about the standard fine-tune, so the configured model goes on to train."""
    from ratchet.steps.select import SelectStep
    from ratchet.steps.select_fits import RungFits

    monkeypatch.setattr(RungFits, "__call__", lambda self, name, epochs, share: None)  # out of time, every rung

    def weak_linear(self, ctx, crossfit, baseline):  # a linear model the few-shot fit beats (always class 0)
        return np.tile(np.array([1.0, 0.0, 0.0], np.float32), (crossfit.plan.n_judged, 1))

    monkeypatch.setattr(SelectStep, "_linear_probs", weak_linear)
    out = run_select(tmp_path, tiny_dirs["sbert"])
    metrics = read_json(out / "steps" / "04-select" / "manifest.json")["metrics"]
    name = f"fewshot:{tiny_dirs['sbert']}"
    final = metrics["fewshot"]["final"]
    assert final[name] > final["linear"]  # it beat the only rival it faced...
    assert metrics["winner"] == str(tiny_dirs["sbert"])  # ...and still the configured fine-tune goes on
    assert "few-shot candidate faced no fine-tune" in metrics["note"]
    assert "method" not in read_json(out / "steps" / "04-select" / "backbone.json")
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["select"]["picked"].startswith(f"picked {tiny_dirs['sbert']} (not measured in select's time; ")
