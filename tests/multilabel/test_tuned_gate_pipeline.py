"""What the ledger records when label sets are judged at cross-tuned thresholds until decide settles them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from tuned_gate_data import label_sets, low_ranker, near_half, write_valid

from ratchet.config import RunConfig
from ratchet.fsutil import read_json, write_json
from ratchet.models.decision import HOLDOUT_FOLDS, Decision, cross_fitted, fit_thresholds, stratified_folds
from ratchet.params import GateParams
from ratchet.pipeline import Pipeline
from ratchet.step import Candidate, Completed, StepContext

TRUTH = label_sets()


@dataclass(frozen=True)
class Params:
    value: int = 0


class MakeLabelSets:
    name: ClassVar[str] = "make_data"
    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("data.valid",)
    gated: ClassVar[bool] = False
    params = Params()

    def run(self, ctx: StepContext) -> Completed:
        return Completed(provides={"data.valid": write_valid(ctx.step_dir / "valid.parquet", TRUTH)})


def shipped(ctx: StepContext) -> dict[str, Path]:
    out = ctx.step_dir / "model"
    out.mkdir()
    write_json(out / "ratchet.json", {"kind": "fake"})
    return {"model.current": out}


class NearHalfBaseline:
    """Ships a model that ranks labels worse but sits around 0.5 (a balanced one-vs-rest baseline's shape)."""

    name: ClassVar[str] = "baseline"
    requires: ClassVar[tuple[str, ...]] = ("data.valid",)
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = False
    params = Params()

    def run(self, ctx: StepContext) -> Completed:
        return Completed(provides=shipped(ctx), probs=near_half(TRUTH))


class LowRankerFineTune:
    """A fine-tune that ranks every label perfectly but never reaches 0.5."""

    name: ClassVar[str] = "train"
    requires: ClassVar[tuple[str, ...]] = ("data.valid",)
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    params = Params()

    def run(self, ctx: StepContext) -> Candidate:
        return Candidate(probs=low_ranker(TRUTH), ship=lambda: shipped(ctx))


class SettlesThresholds:
    """decide's multi-label candidate: the incumbent at thresholds cross-fitted on the holdout's folds."""

    name: ClassVar[str] = "decide"
    requires: ClassVar[tuple[str, ...]] = ("data.valid", "model.current")
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    settles_thresholds: ClassVar[bool] = True
    params = Params()

    def run(self, ctx: StepContext) -> Candidate:
        assert ctx.incumbent is not None
        folds = stratified_folds(TRUTH, HOLDOUT_FOLDS, ctx.seed)
        decided = cross_fitted(
            TRUTH, ctx.incumbent, folds, lambda y, p: Decision(thresholds=fit_thresholds(y, p, "micro_f1"))
        )
        return Candidate(probs=decided, ship=lambda: shipped(ctx))


def run_ledger(tmp_path: Path, steps: list) -> dict[str, dict]:
    config = RunConfig(data="unused.csv", out=str(tmp_path / "run"), gate=GateParams(n_bootstrap=500))
    result = Pipeline(config, steps, preflight=False).run()
    return {entry["step"]: entry for entry in result.ledger}


def test_a_well_ranked_fine_tune_is_kept_when_decide_will_tune_its_thresholds(tmp_path: Path) -> None:
    ledger = run_ledger(tmp_path, [MakeLabelSets(), NearHalfBaseline(), LowRankerFineTune(), SettlesThresholds()])
    base, train, decide = ledger["baseline"], ledger["train"], ledger["decide"]
    assert base["thresholds"] == {"before": "cross-tuned", "after": "cross-tuned"}
    assert 0.6 < base["after"] < 0.9  # the near-0.5 model at its own cross-tuned thresholds
    assert train["status"] == "kept"
    assert train["thresholds"] == {"before": "cross-tuned", "after": "cross-tuned", "rule": "cross-tuned"}
    assert train["reference"] == base["after"] and train["candidate"] == 1.0 and train["after"] == 1.0
    assert "micro_f1 at cross-tuned thresholds" in train["reason"]
    # decide compares its thresholds with the shipped model at 0.5 (micro-F1 0: nothing reaches 0.5), and once
    # they ship the ledger's score is the one the gate had assumed: no tuning counted twice.
    assert decide["status"] == "kept"
    assert decide["thresholds"] == {"before": "cross-tuned", "after": "as given", "rule": "settling"}
    assert decide["reference"] == 0.0 and decide["candidate"] == 1.0
    assert decide["before"] == decide["after"] == 1.0


def test_without_decide_to_come_models_are_judged_as_they_ship(tmp_path: Path) -> None:
    """No step will tune thresholds, so the fine-tune would ship deciding at 0.5, where it predicts nothing."""
    ledger = run_ledger(tmp_path, [MakeLabelSets(), NearHalfBaseline(), LowRankerFineTune()])
    train = ledger["train"]
    assert train["status"] == "rejected" and train["candidate"] == 0.0
    assert train["thresholds"] == {"before": "as given", "after": "as given", "rule": "as given"}
    assert train["reference"] == pytest.approx(0.78, abs=0.05)


def write_cue_sets(path: Path, n: int, seed: int) -> None:
    """Each row names its one or two labels by cue words: a one-vs-rest TF-IDF model gets every set right at 0.5."""
    cues = {"sports": "football", "politics": "senate", "tech": "laptop"}
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        labels = sorted(rng.choice(list(cues), size=int(rng.integers(1, 3)), replace=False).tolist())
        words = [*rng.choice(["the", "a", "of", "and", "to", "in"], size=4).tolist(), *(cues[x] for x in labels)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": json.dumps(labels)})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_a_real_run_records_how_label_sets_were_decided(tmp_path: Path) -> None:
    from rich.console import Console

    from ratchet.cli import main
    from ratchet.reporting.console import ledger_table

    data, out = tmp_path / "train.csv", tmp_path / "run"
    write_cue_sets(data, 150, seed=2)
    code = main(["run", str(data), "--out", str(out), "--model", "linear", "--quiet", "--steps",
                 "clean,split,baseline,decide,evaluate,report", "gate.folds=3"])  # fmt: skip
    assert code == 0
    entries = read_json(out / "ledger.json")
    ledger = {entry["step"]: entry for entry in entries}
    base, decide = ledger["baseline"], ledger["decide"]
    assert base["thresholds"] == {"before": "cross-tuned", "after": "cross-tuned"} and base["after"] == 1.0
    # Perfect at 0.5 already: the thresholds cannot gain, and the shipped model keeps 0.5.
    assert decide["status"] == "rejected" and decide["reference"] == decide["candidate"] == 1.0
    assert decide["thresholds"] == {"before": "cross-tuned", "after": "as given", "rule": "settling"}
    assert "reference at 0.5, candidate at its cross-fitted thresholds" in decide["reason"]
    assert "cross-tuned on the judged rows" in (out / "report.html").read_text(encoding="utf-8")
    from ratchet.reporting.rundata import load_run

    assert load_run(out).gate_metric == "micro_f1"  # not clean's entry, written before the labels were known
    console = Console(record=True, width=200)
    console.print(ledger_table(entries))
    text = console.export_text()
    assert "micro_f1*" in text and "* at per-label thresholds cross-tuned on the judged rows" in text
