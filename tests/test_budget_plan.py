"""--budget's plan: each step's share of the time left counts only the later steps that will run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from ratchet.artifacts import ArtifactStore
from ratchet.budget_plan import step_budget
from ratchet.config import AdaptParams, RunConfig, TrainParams
from ratchet.crossfit.folds import crossfit_plan, holdout_plan
from ratchet.fsutil import write_json
from ratchet.pipeline import Pipeline
from ratchet.step import Completed, StepContext
from ratchet.steps.adapt import AdaptStep, AdaptStepParams
from ratchet.steps.chunk import ChunkStep, ChunkStepParams
from ratchet.steps.selftrain import SelfTrainStep, SelfTrainStepParams


@dataclass(frozen=True)
class Params:
    share: float
    skips: bool = False


SEEN: dict[str, float] = {}
"""Seconds each fake step was given (its deadline minus the time it started)."""


def fake(step_name: str, share: float, skips: bool = False):
    class Fake:
        name: ClassVar[str] = step_name
        requires: ClassVar[tuple[str, ...]] = ()
        optional: ClassVar[tuple[str, ...]] = ()
        provides: ClassVar[tuple[str, ...]] = ()
        gated: ClassVar[bool] = False
        budget_share: ClassVar[float] = share

        def __init__(self) -> None:
            self.params = Params(share, skips)

        def foreseen_skip(self, artifacts) -> str | None:
            return "nothing to do here" if skips else None

        def run(self, ctx: StepContext) -> Completed:
            SEEN[self.name] = float("inf") if ctx.deadline is None else ctx.deadline - time.time()
            return Completed()

    return Fake()


def test_a_step_that_will_not_run_leaves_its_share_to_the_others() -> None:
    steps = [fake("select", 0.2), fake("train", 0.5), fake("chunk", 0.4, skips=True), fake("report", 0.0)]
    plan = step_budget(steps, 0, ArtifactStore(), run_deadline=1000.0, now=300.0)
    assert plan.left == 700.0
    assert plan.seconds == pytest.approx(700 * 0.2 / 0.7)  # chunk's 0.4 not counted: 200 s, not 127 s
    assert plan.deadline == pytest.approx(300 + plan.seconds)
    assert plan.not_counted == {"chunk": "nothing to do here"}
    counted = step_budget([fake("select", 0.2), fake("train", 0.5), fake("chunk", 0.4)], 0, ArtifactStore(), 1000, 300)
    assert counted.seconds == pytest.approx(700 * 0.2 / 1.1) and counted.not_counted == {}


def test_a_step_foreseen_to_skip_still_gets_its_own_share_when_its_turn_comes() -> None:
    # Its skip was a plan: if it runs after all, it takes its own share of what is left, not all of it.
    steps = [fake("chunk", 0.4, skips=True), fake("ensemble", 0.4)]
    assert step_budget(steps, 0, ArtifactStore(), 100.0, 0.0).seconds == pytest.approx(50.0)
    # A step without a share of its own works to the run's deadline.
    no_share = step_budget([fake("report", 0.0), fake("chunk", 0.4)], 0, ArtifactStore(), 100.0, 40.0)
    assert no_share.deadline == 100.0 and no_share.seconds == 60.0
    assert step_budget(steps, 0, ArtifactStore(), None) is None


def test_the_pipeline_gives_each_step_its_planned_time_and_records_it(tmp_path: Path) -> None:
    SEEN.clear()
    steps = [fake("select", 0.2), fake("chunk", 0.4, skips=True), fake("train", 0.6)]
    config = RunConfig(data="unused.csv", out=str(tmp_path / "run"), budget="100s")
    ledger = {e["step"]: e for e in Pipeline(config, steps, preflight=False).run().ledger}
    assert SEEN["select"] == pytest.approx(100 * 0.2 / 0.8, abs=2.0)  # 25 s; 16.7 s were chunk counted
    assert ledger["select"]["budget"]["not_counted"] == {"chunk": "nothing to do here"}
    assert ledger["select"]["budget"]["seconds"] == pytest.approx(25.0, abs=2.0)
    assert SEEN["chunk"] == pytest.approx(100 * 0.4 / 1.0, abs=2.0)
    assert SEEN["train"] == pytest.approx(100.0, abs=2.0)  # the last step with a share takes the rest
    assert "not_counted" not in ledger["train"]["budget"]
    unbudgeted = Pipeline(RunConfig(data="unused.csv", out=str(tmp_path / "free")), steps, preflight=False).run()
    assert all("budget" not in e for e in unbudgeted.ledger) and SEEN["train"] == float("inf")


def report_store(tmp_path: Path, truncated_share: float, max_length: int = 256) -> ArtifactStore:
    path = tmp_path / f"report-{truncated_share}-{max_length}.json"
    write_json(path, {"lengths": {"tokens": {"truncated_share": truncated_share, "max_length": max_length}}})
    store = ArtifactStore()
    store.put("data.report", path)
    return store


def test_chunk_foresees_its_skip_from_the_data_reports_token_lengths(tmp_path: Path) -> None:
    chunk = ChunkStep(ChunkStepParams(model="m", train=TrainParams(max_length=256)))
    view = lambda store: store.view(chunk.name, chunk.requires, chunk.optional)  # noqa: E731
    why = chunk.foreseen_skip(view(report_store(tmp_path, 0.05)))
    assert why == "5.0% of texts are longer than max_length=256 tokens"
    assert chunk.foreseen_skip(view(report_store(tmp_path, 0.30))) is None  # enough long texts: it runs
    assert chunk.foreseen_skip(view(report_store(tmp_path, 0.05, max_length=128))) is None  # measured otherwise
    assert chunk.foreseen_skip(view(ArtifactStore())) is None  # no report: no foresight
    named = ChunkStep(ChunkStepParams(model="m", always=True))
    assert named.foreseen_skip(view(report_store(tmp_path, 0.0))) is None


def test_selftrain_and_adapt_foresee_a_missing_unlabeled_corpus(tmp_path: Path) -> None:
    selftrain = SelfTrainStep(SelfTrainStepParams(model="m"))
    assert selftrain.foreseen_skip(ArtifactStore().view("selftrain", (), ())) == "no unlabeled corpus"
    corpus = tmp_path / "unlabeled.txt"
    corpus.write_text("some text\n")
    assert SelfTrainStep(SelfTrainStepParams(model="m", unlabeled=str(corpus))).foreseen_skip(None) is None

    labels = np.array([0, 1] * 10)
    plans = {"crossfit": crossfit_plan(labels, np.arange(20), 16, 5, 0), "holdout": holdout_plan(16, 4, 0)}
    adapt = AdaptStep(AdaptStepParams(model="m"))
    with_corpus = AdaptStep(AdaptStepParams(model="m", adapt=AdaptParams(unlabeled=str(corpus))))
    for mode, plan in plans.items():
        plan.save(tmp_path / f"{mode}.json")
        store = ArtifactStore()
        store.put("data.folds", tmp_path / f"{mode}.json")
        view = store.view(adapt.name, adapt.requires, adapt.optional)
        # Cross-fitted, the corpus is the unlabeled texts alone; holdout adapts on the training texts too.
        expected = "cross-fitted, without an unlabeled corpus" if mode == "crossfit" else None
        assert adapt.foreseen_skip(view) == expected
        assert with_corpus.foreseen_skip(view) is None
