"""A schedule fitted to the time: the epochs that fit, a subsample below one epoch, none when nothing fits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ratchet.config import TrainParams
from ratchet.finetuning.finetune import TaskData, finetune
from ratchet.training.plan import SAFETY, TooLittleTime, plan_fit, stratified_subsample


def plan(rate: float, seconds: float, epochs: float = 5.0):
    # 10,000 real tokens an epoch, 2,000 validation tokens evaluated once an epoch (a third of their cost).
    return plan_fit(epochs=epochs, tokens_per_epoch=10_000, rows=1000, classes=3, valid_tokens=2_000,
                    evals_per_epoch=1, rate=rate, seconds=seconds)  # fmt: skip


def test_every_epoch_when_the_time_affords_them() -> None:
    found = plan(rate=1000, seconds=100)  # 10.67 s an epoch: 7.9 epochs fit at 85%
    assert found.epochs == 5.0 and found.rows == 1000 and found.fits


def test_fewer_epochs_when_not_and_the_whole_schedule_ends_in_time() -> None:
    found = plan(rate=1000, seconds=40)
    per_epoch = (10_000 + 2_000 / 3) / 1000
    assert found.epochs == 3.0 and found.rows == 1000  # 40 * 0.85 / 10.67 = 3.19 epochs, in quarters: 3.0
    assert found.epochs * per_epoch <= 40 * SAFETY
    assert "warmup and decay" in found.reason


def test_a_stratified_subsample_when_not_even_one_epoch_fits() -> None:
    found = plan(rate=1000, seconds=6)  # 6 * 0.85 / 10.67 = 0.48 of an epoch
    assert found.epochs == 1.0 and found.rows == 478 and "subsample" in found.reason
    labels = np.array([0] * 700 + [1] * 200 + [2] * 100)
    rows = stratified_subsample(labels, found.rows, seed=0)
    assert abs(len(rows) - 478) <= 2 and np.bincount(labels[rows]).tolist() == [335, 96, 48]


def test_no_fit_when_not_even_a_small_subsample_fits() -> None:
    found = plan(rate=1000, seconds=0.2)
    assert not found.fits and "no fine-tune fits the budget" in found.reason


@pytest.mark.parametrize("schedule", [{"epochs": 1000.0}, {"epochs": 1.0, "min_steps": 10**6}],
                         ids=["epochs", "stretched-by-min-steps"])  # fmt: skip
def test_a_budgeted_tiny_fine_tune_plans_its_schedule_and_ends_decayed_in_time(
    tiny_model_dir, tmp_path, schedule
) -> None:
    from ratchet_testing import synthetic_rows

    from ratchet.data.frames import Split

    labels = ["negative", "neutral", "positive"]

    def split(rows: list[dict[str, str]]) -> Split:
        ids = np.array([labels.index(r["sentiment"]) for r in rows], dtype=np.int64)
        return Split([r["review"] for r in rows], None, ids, None)

    data = TaskData(split(synthetic_rows(300, seed=1)), split(synthetic_rows(30, seed=2)), labels)
    params = TrainParams(**schedule, learning_rate=3e-3, max_length=32, max_tokens=512, patience=10**6,
                         frozen_layers=0)  # fmt: skip
    started = time.time()
    result = finetune(str(tiny_model_dir("bert")), data, params, device="cpu", seed=0,
                      checkpoint_dir=tmp_path / "ckpt", deadline=started + 20)  # fmt: skip
    assert time.time() - started < 25
    assert result.plan is not None and result.plan["epochs"] < 1000 and not result.stopped_by_deadline
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the decay ran to its end
    trained = result.telemetry["schedule"]  # the plan's epochs, not stretched to min_steps again (the pace may
    assert trained["steps"] == trained["configured_steps"] >= result.steps  # still shorten them, if slower)
    assert trained["epochs"] == pytest.approx(result.plan["epochs"], rel=0.02)
    with pytest.raises(TooLittleTime, match="no fine-tune fits the budget"):
        finetune(str(tiny_model_dir("bert")), data, params, device="cpu", seed=0,
                 checkpoint_dir=tmp_path / "ckpt2", deadline=time.time() + 0.01)  # fmt: skip
