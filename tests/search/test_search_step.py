"""The search step in a run: trials in the run's SQLite study, the gate, train.params, the manifest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest
from ratchet_testing import assert_rule_applied, write_train_test

from ratchet.cli import main
from ratchet.fsutil import read_json

SEARCH_TRAIN = [
    "train.epochs=2",
    "train.min_steps=0",
    "train.learning_rate=0.003",
    "gate.folds=holdout",
    "train.max_length=32",
    "train.max_tokens=256",
]


def write_data(tmp_path: Path) -> tuple[Path, Path]:
    return write_train_test(tmp_path, 60, 15, seed=21)


def test_search_runs_trials_judges_the_best_against_the_reference_and_hands_params_to_train(
    tiny_model_dir, tmp_path
) -> None:
    data, test = write_data(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--quiet"]
    args += ["--model", str(tiny_model_dir("bert")), "--steps", "clean,split,search,train,evaluate"]
    assert main([*args, *SEARCH_TRAIN, "search.n_trials=4"]) == 0

    step = out / "steps" / "03-search"
    manifest = read_json(step / "manifest.json")
    metrics = manifest["metrics"]
    history = metrics["history"]
    assert len(history) == 4
    assert history[0]["reference"] and history[0]["params"] == {}
    assert all(t["state"] in ("complete", "pruned") for t in history)
    assert all(t["intermediate"] for t in history)  # every trial reported to the pruner
    assert metrics["live_pruning"] is True
    assert metrics["n_complete"] + metrics["n_pruned"] == 4
    assert metrics["reference_value"] == history[0]["value"]
    best = max((t for t in history if t["state"] == "complete"), key=lambda t: (t["value"], -t["number"]))
    assert metrics["best"]["number"] == best["number"]
    assert isinstance(metrics["importances"], dict)

    # The study lives in the step folder, under the stable name recorded for workers.
    spec = read_json(step / "study.json")
    assert spec["study_name"] == metrics["study_name"] and spec["n_trials"] == 4
    with sqlite3.connect(step / "search.db") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 4
    study = optuna.load_study(study_name=spec["study_name"], storage=f"sqlite:///{step / 'search.db'}")
    assert study.user_attrs["closed"]

    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["search"]["gated"] is True
    assert_rule_applied(ledger["search"])
    assert ledger["search"]["candidate"] == pytest.approx(metrics["best_value"])
    assert ledger["search"]["reference"] == pytest.approx(metrics["reference_value"])
    train = read_json(out / "steps" / "04-train" / "manifest.json")["metrics"]
    if ledger["search"]["status"] == "kept":
        overrides = read_json(step / "train_params.json")
        assert overrides == metrics["best"]["overrides"]
        for key, value in overrides.items():
            assert train["train_params"][key] == pytest.approx(value)
        # Same parameters and seed as the winning trial: train reproduces its validation score.
        assert train["best_valid_macro_f1"] == pytest.approx(metrics["best_value"])
    else:
        assert train["train_params"]["learning_rate"] == pytest.approx(0.003)
    assert (out / "metrics.json").is_file()


def test_search_skips_with_too_few_trials(tiny_model_dir, tmp_path) -> None:
    data, test = write_data(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--quiet", "--steps", "clean,split,search"]
    assert main([*args, "--model", str(tiny_model_dir("bert")), *SEARCH_TRAIN, "search.n_trials=1"]) == 0
    entry = read_json(out / "ledger.json")[-1]
    assert entry["status"] == "skipped" and "n_trials=1" in entry["note"]


CROSSFIT_TRAIN = [s for s in SEARCH_TRAIN if not s.startswith("gate.folds")] + ["gate.folds=3", "gate.fold_workers=1"]


@pytest.mark.parametrize("cut", [False, True])
def test_cross_fitted_finalists_are_judged_on_the_other_folds_and_a_cut_fit_is_not_judged(
    tiny_model_dir, tmp_path, monkeypatch, cut: bool
) -> None:
    """Cross-fitted: the trials race on fold 1, the best and the configured parameters are fitted on folds 2-3
    and judged there (their fits recorded); a finalist fold stopped mid-schedule by the time budget is not the
    recipe, so the step is skipped with the reason instead of reporting the truncated fit's loss."""
    from ratchet.crossfit.service import CrossFitter

    if cut:
        fit_folds = CrossFitter.transformer

        def deadline_cut(self, *args, **kwargs):
            found = fit_folds(self, *args, **kwargs)
            if kwargs.get("name", "").startswith("trial"):
                found.folds[-1].info["stopped_by_deadline"] = True
            return found

        monkeypatch.setattr(CrossFitter, "transformer", deadline_cut)
    data, test = write_data(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--quiet"]
    args += ["--model", str(tiny_model_dir("bert")), "--steps", "clean,split,search"]
    assert main([*args, *CROSSFIT_TRAIN, "search.n_trials=3"]) == 0
    metrics = read_json(out / "steps" / "03-search" / "manifest.json")["metrics"]
    entry = read_json(out / "ledger.json")[-1]
    finalists = metrics["finalists"]
    assert set(finalists) == {"best trial", "configured parameters"}
    assert all(f["folds_run"] == f["folds_planned"] == 2 for f in finalists.values())  # fold 1 chose the best
    if cut:
        assert entry["status"] == "skipped"
        assert "stopped the best trial and configured parameters folds mid-schedule" in entry["note"]
        assert all(f["cut_by_deadline"] == 1 for f in finalists.values())
    else:
        assert_rule_applied(entry)
        assert entry["folds"] == 2 and "cut_by_deadline" not in finalists["best trial"]
