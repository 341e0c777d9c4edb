"""Cross-fitted judging in a pipeline: a truly better candidate is kept, an identical one rejected, and a real
tiny-model run judges on out-of-fold rows and ships a refit on every train+valid row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN, write_train_test

from ratchet.cli import main
from ratchet.config import RunConfig
from ratchet.crossfit.folds import crossfit_plan, group_ids
from ratchet.fsutil import read_json, write_json
from ratchet.pipeline import Pipeline
from ratchet.step import Candidate, Completed, StepContext

N, K = 240, 3
RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 3, N)


@dataclass(frozen=True)
class Params:
    value: int = 0


def probs_with_accuracy(accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(N) < accuracy, LABELS, (LABELS + 1) % 3)
    probs = np.full((N, 3), 0.1)
    probs[np.arange(N), pred] = 0.8
    return probs


class MakePool:
    """Train and valid splits plus a 3-fold plan over their rows: what split writes in a cross-fitted run."""

    name: ClassVar[str] = "make_pool"
    requires: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "data.folds")
    gated: ClassVar[bool] = False
    params = Params()

    def run(self, ctx: StepContext) -> Completed:
        paths = {key: ctx.step_dir / name for key, name in
                 (("data.train", "train.parquet"), ("data.valid", "valid.parquet"), ("data.labels", "labels.json"),
                  ("data.folds", "folds.json"))}  # fmt: skip
        frame = pd.DataFrame({"text": [f"t{i}" for i in range(N)], "label": LABELS.astype(str), "label_id": LABELS})
        frame.iloc[:200].to_parquet(paths["data.train"])
        frame.iloc[200:].to_parquet(paths["data.valid"])
        write_json(paths["data.labels"], {"labels": ["0", "1", "2"], "kind": "str"})
        crossfit_plan(LABELS, group_ids(N, []), 200, K, seed=0).save(paths["data.folds"])
        return Completed(provides=paths)


def model_step(step_name: str, probs: np.ndarray | None, gated: bool):
    class ModelStep:
        name: ClassVar[str] = step_name
        requires: ClassVar[tuple[str, ...]] = ("data.valid",)
        optional: ClassVar[tuple[str, ...]] = ("model.current",)
        provides: ClassVar[tuple[str, ...]] = ("model.current",)
        params = Params()

        def run(self, ctx: StepContext) -> Completed | Candidate:
            out = ctx.step_dir / "model"
            out.mkdir(exist_ok=True)
            write_json(out / "ratchet.json", {"kind": "fake"})
            judged = ctx.incumbent.copy() if probs is None else probs  # None: exactly the incumbent again
            if self.gated:
                return Candidate(probs=judged, provides={"model.current": out})
            return Completed(provides={"model.current": out}, probs=judged)

    ModelStep.gated = gated
    return ModelStep()


def test_cross_fitted_judging_keeps_a_better_candidate_and_rejects_an_identical_one(tmp_path: Path) -> None:
    steps = [
        MakePool(),
        model_step("base", probs_with_accuracy(0.6, 1), gated=False),
        model_step("better", probs_with_accuracy(0.75, 2), gated=True),
        model_step("same", None, gated=True),
    ]
    config = RunConfig(data="unused.csv", out=str(tmp_path / "run"))
    ledger = {e["step"]: e for e in Pipeline(config, steps, preflight=False).run().ledger}
    better, same = ledger["better"], ledger["same"]
    assert better["status"] == "kept" and better["rows"] == N and better["folds"] == K
    assert len(better["fold_gains"]) == K and all(g > 0 for g in better["fold_gains"])
    assert better["t_p_value"] < 0.1 and better["p_better"] > 0.99  # 3 folds: the corrected test is cautious
    assert same["status"] == "rejected" and same["gain"] == 0.0 and same["p_better"] == pytest.approx(0.5)


def test_a_tiny_model_run_judges_out_of_fold_and_ships_a_refit(tiny_model_dir, tmp_path: Path) -> None:
    data, test = write_train_test(tmp_path, 90, 24, seed=5)
    out = tmp_path / "run"
    settings = [s for s in FAST_TRAIN if not s.startswith("gate.folds")]
    steps = "clean,split,baseline,train,calibrate,decide,evaluate"
    args = [
        "run",
        str(data),
        "--test",
        str(test),
        "--out",
        str(out),
        "--model",
        str(tiny_model_dir("bert")),
        "--steps",
        steps,
        "--quiet",
        *settings,
        f"gate.folds={K}",
        "gate.min_gain=-1",
        "gate.confidence=0",
    ]  # fmt: skip (a gate that keeps everything: the refit always ships)
    assert main(args) == 0
    plan = read_json(out / "data" / "folds.json")
    pool = len(pd.read_parquet(out / "data" / "train.parquet")) + len(pd.read_parquet(out / "data" / "valid.parquet"))
    assert plan["mode"] == "crossfit" and plan["k"] == K and len(plan["fold_of"]) == pool
    ledger = {e["step"]: e for e in read_json(out / "ledger.json")}
    train = ledger["train"]
    # Judged on every pool row, each by the fold model that did not see it, with the fold test beside it.
    assert train["rows"] == pool and train["folds"] == K and len(train["fold_gains"]) == K
    oof = np.load(out / "steps" / "04-train" / "valid_probs.npy")
    assert oof.shape == (pool, 3) and not np.isnan(oof).any()
    metrics = read_json(out / "steps" / "04-train" / "manifest.json")["metrics"]
    assert metrics["crossfit"]["folds_run"] == K
    assert train["status"] == "kept"
    assert metrics["refit"]["rows"] == pool and metrics["refit"]["epochs"] == metrics["refit_epochs"]
    assert f"refit on all {pool} train+valid rows" in metrics["shipped"]
    baseline = read_json(out / "steps" / "03-baseline" / "manifest.json")["metrics"]
    assert f"refit on all {pool} train+valid rows" in baseline["shipped"] and len(baseline["fold_C"]) == K
    assert ledger["calibrate"]["gate_metric"] == "neg_log_loss" and ledger["calibrate"]["rows"] == pool
    assert ledger["decide"]["rows"] == pool and ledger["decide"]["status"] == "kept"
    decision = read_json(out / "model" / "decision.json")  # what predict and evaluate apply
    calibrate = read_json(out / "steps" / "05-calibrate" / "manifest.json")["metrics"]
    assert decision["temperature"] == pytest.approx(calibrate["temperature"]) and len(decision["bias"]) == 3
    assert read_json(out / "metrics.json")["test"]["n"] == 24


def test_the_ledger_records_accuracy_beside_the_gate_metric(tmp_path: Path) -> None:
    import dataclasses

    from ratchet.config import GateParams
    from ratchet.crossfit.folds import FoldPlan

    base, better, worse = probs_with_accuracy(0.6, 1), probs_with_accuracy(0.75, 2), probs_with_accuracy(0.4, 3)

    def run(name: str, gate: GateParams) -> dict:
        steps = [MakePool(), model_step("base", base, gated=False), model_step("better", better, gated=True),
                 model_step("worse", worse, gated=True)]  # fmt: skip
        config = dataclasses.replace(RunConfig(data="unused.csv", out=str(tmp_path / name)), gate=gate)
        return {e["step"]: e for e in Pipeline(config, steps, preflight=False).run().ledger}

    ledger = run("macro", GateParams())
    plan = FoldPlan.load(tmp_path / "macro" / "steps" / "01-make_pool" / "folds.json")
    labels = LABELS[plan.judged_rows()]

    def accuracy(probs: np.ndarray) -> float:
        return float((probs.argmax(axis=1) == labels).mean())

    assert ledger["base"]["accuracy"] == pytest.approx({"after": accuracy(base)})
    assert ledger["better"]["status"] == "kept"
    assert ledger["better"]["accuracy"] == pytest.approx(
        {"before": accuracy(base), "after": accuracy(better), "candidate": accuracy(better)}
    )
    # A rejected candidate's accuracy is recorded; the shipped model's does not move.
    assert ledger["worse"]["status"] == "rejected"
    assert ledger["worse"]["accuracy"] == pytest.approx(
        {"before": accuracy(better), "after": accuracy(better), "candidate": accuracy(worse)}
    )
    assert accuracy(worse) < accuracy(better)
    # The end-of-run table shows it too.
    from rich.console import Console

    from ratchet.reporting.console import ledger_table

    console = Console(record=True, width=200)
    console.print(ledger_table(list(ledger.values())))
    text = console.export_text()
    assert "accuracy" in text and f"{accuracy(better):.4f}" in text
    # A gate that judges accuracy has nothing to add beside it.
    assert all("accuracy" not in entry for entry in run("accuracy", GateParams(metric="accuracy")).values())


def test_small_data_stretches_every_fold_and_the_refit_trains_the_folds_peak_unstretched(
    tiny_model_dir, tmp_path: Path
) -> None:
    data, test = write_train_test(tmp_path, 90, 24, seed=5)
    out = tmp_path / "run"
    settings = [s for s in FAST_TRAIN if not s.startswith(("gate.folds", "train.min_steps"))]
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--model", str(tiny_model_dir("bert")),
            "--steps", "clean,split,baseline,train,evaluate,report", "--quiet", *settings, "train.min_steps=40",
            "gate.folds=3", "gate.min_gain=-1", "gate.confidence=0"]  # fmt: skip
    assert main(args) == 0
    metrics = read_json(out / "steps" / "04-train" / "manifest.json")["metrics"]
    schedule = metrics["telemetry"]["schedule"]  # the first fold: 3 epochs of its rows give fewer than 40 steps
    assert schedule["steps"] == 40 == metrics["steps"] and schedule["configured_steps"] < 40
    assert schedule["epochs"] > 3 and metrics["history"][-1]["epoch"] == pytest.approx(schedule["epochs"], abs=0.01)
    assert len(metrics["history"]) == 3  # 3 epochs x 1 evaluation each, spread over the 40 steps
    # The refit trains the epochs at which the folds' mean curve peaked (possibly past the configured 3), fixed.
    evaluated = [h["epoch"] for curve in [metrics["history"], *metrics["fold_histories"]] for h in curve]
    assert metrics["refit"]["epochs"] == metrics["refit_epochs"] in evaluated
    shipped = read_json(out / "model" / "ratchet.json")["recipe"]["train_params"]
    assert shipped["min_steps"] == 0 and shipped["epochs"] == metrics["refit_epochs"]
    assert f"{schedule['configured_steps']} -&gt; 40 optimizer steps" in (out / "report.html").read_text()
