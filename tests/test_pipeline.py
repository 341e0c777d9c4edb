"""Pipeline contract: declared artifacts, the test seal, the ratchet rule, manifests and resume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from ratchet.config import RunConfig
from ratchet.errors import RatchetError, SealedArtifactError
from ratchet.fsutil import read_json, write_json
from ratchet.pipeline import Pipeline
from ratchet.step import Candidate, Completed, StepContext

N_VALID = 200
RNG = np.random.default_rng(0)
Y_VALID = RNG.integers(0, 3, size=N_VALID)


def probs_with_accuracy(accuracy: float, seed: int) -> np.ndarray:
    """Validation probabilities whose argmax is right on about ``accuracy`` of the rows."""
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(N_VALID) < accuracy, Y_VALID, (Y_VALID + 1) % 3)
    probs = np.full((N_VALID, 3), 0.1)
    probs[np.arange(N_VALID), pred] = 0.8
    return probs


@dataclass(frozen=True)
class Params:
    value: int = 0


CALLS: list[str] = []


class MakeData:
    name: ClassVar[str] = "make_data"
    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("data.valid", "data.test")
    gated: ClassVar[bool] = False

    def __init__(self, params: Params = Params()) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        CALLS.append(self.name)
        valid = ctx.step_dir / "valid.parquet"
        pd.DataFrame({"text": ["t"] * N_VALID, "label_id": Y_VALID}).to_parquet(valid)
        test = ctx.step_dir / "test.parquet"
        pd.DataFrame({"text": ["t"], "label_id": [0]}).to_parquet(test)
        return Completed(provides={"data.valid": valid, "data.test": test})


def model_step(step_name: str, accuracy: float, gated: bool, seed: int):
    class ModelStep:
        name: ClassVar[str] = step_name
        requires: ClassVar[tuple[str, ...]] = ("data.valid",)
        optional: ClassVar[tuple[str, ...]] = ("model.current",)
        provides: ClassVar[tuple[str, ...]] = ("model.current",)

        def __init__(self, params: Params = Params()) -> None:
            self.params = params

        def run(self, ctx: StepContext) -> Completed | Candidate:
            CALLS.append(self.name)
            ctx.artifacts.get("data.valid")
            out = ctx.step_dir / "model"
            out.mkdir()
            write_json(out / "ratchet.json", {"kind": "fake", "by": self.name})
            probs = probs_with_accuracy(accuracy, seed)
            if self.gated:
                return Candidate(probs=probs, provides={"model.current": out})
            return Completed(provides={"model.current": out}, probs=probs)

    ModelStep.gated = gated
    return ModelStep


class ReadsTest:
    name: ClassVar[str] = "peek"
    requires: ClassVar[tuple[str, ...]] = ("data.test",)
    provides: ClassVar[tuple[str, ...]] = ()
    gated: ClassVar[bool] = False
    params = Params()

    def run(self, ctx: StepContext) -> Completed:
        ctx.artifacts.get("data.test")
        return Completed()


def make_pipeline(tmp_path: Path, steps, resume: bool = False) -> Pipeline:
    config = RunConfig(data="unused.csv", out=str(tmp_path / "run"), resume=resume)
    return Pipeline(config, steps, preflight=False)


def recipe():
    return [
        MakeData(),
        model_step("base", 0.6, gated=False, seed=1)(),
        model_step("better", 0.9, gated=True, seed=2)(),
        model_step("worse", 0.5, gated=True, seed=3)(),
    ]


def test_ratchet_keeps_a_clear_gain_and_rejects_a_loss(tmp_path: Path) -> None:
    result = make_pipeline(tmp_path, recipe()).run()
    by_step = {entry["step"]: entry for entry in result.ledger}
    assert by_step["make_data"]["status"] == "completed"
    assert by_step["base"]["status"] == "completed"
    assert by_step["better"]["status"] == "kept"
    assert by_step["better"]["gain"] > 0.2
    assert by_step["better"]["ci"][0] > 0
    assert by_step["worse"]["status"] == "rejected"
    assert by_step["worse"]["gain"] < 0
    # The rejected candidate is not shipped: the model is the kept one.
    assert read_json(result.run_dir / "model" / "ratchet.json")["by"] == "better"
    # The incumbent after a rejection is unchanged.
    assert by_step["worse"]["after"] == pytest.approx(by_step["better"]["after"])
    assert read_json(result.run_dir / "ledger.json") == result.ledger


def test_manifest_records_params_inputs_and_status(tmp_path: Path) -> None:
    result = make_pipeline(tmp_path, recipe()).run()
    manifest = read_json(result.run_dir / "steps" / "03-better" / "manifest.json")
    assert manifest["status"] == "kept"
    assert manifest["params"] == {"value": 0}
    assert set(manifest["inputs"]) == {"data.valid", "model.current", "incumbent.valid_probs"}
    assert all(isinstance(h, str) and len(h) == 64 for h in manifest["inputs"].values())
    assert manifest["provides"] == {"model.current": "steps/03-better/model"}
    assert manifest["seconds"] >= 0


def test_resume_skips_completed_steps_and_reproduces_the_ledger(tmp_path: Path) -> None:
    first = make_pipeline(tmp_path, recipe()).run()
    CALLS.clear()
    second = make_pipeline(tmp_path, recipe(), resume=True).run()
    assert CALLS == []
    assert [e["status"] for e in second.ledger] == [e["status"] for e in first.ledger]
    assert read_json(second.run_dir / "model" / "ratchet.json")["by"] == "better"


def test_resume_reruns_a_step_whose_params_changed(tmp_path: Path) -> None:
    make_pipeline(tmp_path, recipe()).run()
    CALLS.clear()
    steps = recipe()
    steps[2] = model_step("better", 0.9, gated=True, seed=2)(Params(value=1))
    make_pipeline(tmp_path, steps, resume=True).run()
    # "better" reran; its output is identical, so "worse" sees unchanged inputs and is skipped.
    assert CALLS == ["better"]


def test_resume_with_a_step_inserted_sets_the_old_numbering_aside(tmp_path: Path) -> None:
    run = make_pipeline(tmp_path, recipe()).run().run_dir
    steps = recipe()
    steps.insert(2, model_step("extra", 0.7, gated=True, seed=4)())
    CALLS.clear()
    make_pipeline(tmp_path, steps, resume=True).run()
    assert CALLS == ["extra", "better", "worse"]  # renumbered from "extra" on: 03 -> 04, 04 -> 05
    assert sorted(p.name for p in (run / "steps").iterdir()) == [
        "01-make_data", "02-base", "03-extra", "04-better", "05-worse",
    ]  # fmt: skip
    # The earlier numbering's folders are kept aside, not deleted; steps/ holds only this recipe's.
    assert sorted(p.name for p in (run / "superseded").iterdir()) == ["03-better", "04-worse"]
    assert read_json(run / "superseded" / "04-worse" / "manifest.json")["step"] == "worse"


def test_the_test_split_is_sealed(tmp_path: Path) -> None:
    with pytest.raises(SealedArtifactError):
        make_pipeline(tmp_path, [MakeData(), ReadsTest()]).run()
    manifest = read_json(tmp_path / "run" / "steps" / "02-peek" / "manifest.json")
    assert manifest["status"] == "failed"


def test_undeclared_artifacts_are_refused(tmp_path: Path) -> None:
    class Sneaky:
        name: ClassVar[str] = "sneaky"
        requires: ClassVar[tuple[str, ...]] = ()
        provides: ClassVar[tuple[str, ...]] = ()
        gated: ClassVar[bool] = False
        params = Params()

        def run(self, ctx: StepContext) -> Completed:
            return Completed(provides={"model.current": ctx.step_dir})

    class Nosy:
        name: ClassVar[str] = "nosy"
        requires: ClassVar[tuple[str, ...]] = ()
        provides: ClassVar[tuple[str, ...]] = ()
        gated: ClassVar[bool] = False
        params = Params()

        def run(self, ctx: StepContext) -> Completed:
            ctx.artifacts.maybe("data.valid")
            return Completed()

    with pytest.raises(RuntimeError, match="undeclared"):
        make_pipeline(tmp_path / "a", [Sneaky()]).run()
    with pytest.raises(KeyError, match="did not declare"):
        make_pipeline(tmp_path / "b", [Nosy()]).run()


def test_an_earlier_run_is_not_clobbered(tmp_path: Path) -> None:
    make_pipeline(tmp_path, recipe()).run()
    before = (tmp_path / "run" / "ledger.json").read_bytes()
    with pytest.raises(RatchetError, match="--resume"):
        make_pipeline(tmp_path, recipe()).run()
    assert (tmp_path / "run" / "ledger.json").read_bytes() == before


class PicksBackbone:
    """Like select: scores a candidate on validation but ships nothing (no model.current)."""

    name: ClassVar[str] = "pick"
    requires: ClassVar[tuple[str, ...]] = ("data.valid",)
    provides: ClassVar[tuple[str, ...]] = ("model.backbone",)
    gated: ClassVar[bool] = False

    def __init__(self, params: Params = Params()) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        out = ctx.step_dir / "backbone.json"
        write_json(out, {"model": "picked"})
        return Completed(provides={"model.backbone": out}, probs=probs_with_accuracy(0.9, 4))


def test_the_ledger_follows_the_shipped_model_not_a_pick_that_ships_nothing(tmp_path: Path) -> None:
    steps = [MakeData(), model_step("base", 0.6, gated=False, seed=1)(), PicksBackbone(),
             model_step("worse", 0.5, gated=True, seed=3)()]  # fmt: skip
    ledger = {entry["step"]: entry for entry in make_pipeline(tmp_path, steps).run().ledger}
    base = ledger["base"]["after"]
    # The pick is recorded as a candidate; the shipped model (base) stays the incumbent.
    assert ledger["pick"]["candidate"] > base and ledger["pick"]["after"] == pytest.approx(base)
    assert ledger["pick"]["gain"] is None
    # The gated step is judged against base and, rejected, leaves base as what ships.
    assert ledger["worse"]["status"] == "rejected"
    assert ledger["worse"]["before"] == pytest.approx(base) and ledger["worse"]["after"] == pytest.approx(base)
    resumed = {e["step"]: e for e in make_pipeline(tmp_path, steps, resume=True).run().ledger}
    assert resumed["worse"]["after"] == pytest.approx(base)


class CleansData:
    """Like relabel: judged by its own learner's two fits (reference vs candidate) under its own metric."""

    name: ClassVar[str] = "cleanse"
    requires: ClassVar[tuple[str, ...]] = ("data.valid",)
    provides: ClassVar[tuple[str, ...]] = ("data.train",)
    gated: ClassVar[bool] = True

    def __init__(self, params: Params = Params()) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Candidate:
        out = ctx.step_dir / "train.parquet"
        pd.DataFrame({"text": ["t"], "label_id": [0]}).to_parquet(out)
        # Same argmax on every row (macro-F1 cannot tell them apart); the candidate is surer where it is right.
        reference = probs_with_accuracy(0.7, 5)
        right = reference.argmax(1) == Y_VALID
        candidate = reference.copy()
        candidate[right] = np.where(candidate[right] == 0.8, 0.9, 0.05)
        return Candidate(probs=candidate, provides={"data.train": out}, reference=reference, metric="neg_log_loss")


def test_a_step_may_be_judged_with_its_own_gate_metric(tmp_path: Path) -> None:
    steps = [MakeData(), model_step("base", 0.6, gated=False, seed=1)(), CleansData()]
    result = make_pipeline(tmp_path, steps).run()
    entry = {e["step"]: e for e in result.ledger}["cleanse"]
    assert entry["status"] == "kept" and entry["gate_metric"] == "neg_log_loss"
    assert entry["metric"] == "macro_f1" and entry["after"] == pytest.approx(entry["before"])  # nothing shipped
    assert entry["reference"] < entry["candidate"] < 0 and entry["gain"] > 0 and entry["p_better"] > 0.99
    assert "neg_log_loss" in entry["reason"]
    saved = next((result.run_dir / "steps").glob("*-cleanse"))
    assert np.load(saved / "reference_probs.npy").shape == (N_VALID, 3)


def test_a_data_step_before_any_model_does_not_stand_in_for_one(tmp_path: Path) -> None:
    steps = [MakeData(), CleansData(), model_step("base", 0.6, gated=False, seed=1)()]
    ledger = {e["step"]: e for e in make_pipeline(tmp_path, steps).run().ledger}
    assert ledger["cleanse"]["status"] == "kept" and ledger["cleanse"]["after"] is None
    assert ledger["base"]["before"] is None and ledger["base"]["after"] is not None
    resumed = {e["step"]: e for e in make_pipeline(tmp_path, steps, resume=True).run().ledger}
    assert resumed["base"]["before"] is None
