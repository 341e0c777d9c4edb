"""A schedule slower than planned is shortened so that its decay ends before the deadline, not cut at it."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch

from ratchet.config import TrainParams
from ratchet.training import pacing
from ratchet.training.loop import fit
from ratchet.training.optim import LinearSchedule, build_scheduler
from ratchet.training.pacing import DeadlinePace


def test_a_shortened_schedule_continues_from_the_current_rate_and_ends_at_zero() -> None:
    schedule = LinearSchedule(total=100, warmup=10)
    before = [schedule(s) for s in range(40)]
    current = schedule(40)
    schedule.shorten(40, 60)
    assert [schedule(s) for s in range(40)] == before  # the past is unchanged
    assert schedule(40) == pytest.approx(current)  # no jump
    assert schedule(50) == pytest.approx(current / 2)
    assert schedule(60) == 0.0 and schedule(70) == 0.0
    shorter = [schedule(s) for s in range(40, 61)]
    assert all(a > b for a, b in itertools.pairwise(shorter))


def test_a_schedule_shortened_in_its_warmup_warms_up_over_the_same_share_and_ends_at_zero() -> None:
    schedule = LinearSchedule(total=10_000, warmup=600)
    schedule.shorten(20, 200)
    assert schedule.warmup == 20 and schedule.decay_total == 200  # 6% of the shorter run, never below the past
    assert schedule(20) == pytest.approx(1.0) and schedule(110) == pytest.approx(0.5) and schedule(200) == 0.0


def test_a_shortened_schedule_survives_a_checkpoint() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, 100, 10)
    for _ in range(30):
        optimizer.step()
        scheduler.step()
    scheduler.lr_lambdas[0].shorten(30, 50)
    state = scheduler.state_dict()
    fresh = build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 100, 10)
    fresh.load_state_dict(state)
    assert fresh.lr_lambdas[0].decay_total == 50
    assert [fresh.lr_lambdas[0](s) for s in (30, 40, 50)] == [scheduler.lr_lambdas[0](s) for s in (30, 40, 50)]


def test_the_pace_shortens_only_when_the_steps_left_would_end_past_the_deadline(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(pacing.time, "time", lambda: clock[0])
    pace = DeadlinePace(deadline=1100.0, start_step=0)
    assert pace.shortened_total(pacing.SKIP_STEPS, 200) is None  # the first steps are not timed
    clock[0] = 1003.0
    assert pace.shortened_total(6, 200) is None  # 3 timed steps: too few to trust the pace
    clock[0] = 1004.0
    assert pace.shortened_total(12, 200) is None  # 9 timed steps of 197 in 4 of 100 s: under 5% of either
    clock[0] = 1010.0  # 1 s a step from step 3 on
    assert pace.shortened_total(13, 60) is None  # 47 steps left end at 1057
    shorter = pace.shortened_total(13, 200)  # 187 steps left would end at 1197
    assert shorter == 13 + int(90 * pacing.SAFETY)
    assert DeadlinePace(None, 0).shortened_total(10, 10**6) is None


def test_a_fit_slower_than_its_deadline_ends_its_decay_in_time(task, tmp_path) -> None:
    t = task()
    params = TrainParams(min_steps=0, learning_rate=3e-3, batch_size=16, max_tokens=512, max_length=64, frozen_layers=0,
                         epochs=10_000.0, patience=10**6)  # fmt: skip
    started = time.time()
    result = fit(t["model"], t["train"], t["train_labels"], t["valid"], t["valid_labels"], params, device="cpu",
                 seed=0, checkpoint_dir=tmp_path / "ckpt", pad_id=t["pad_id"], deadline=started + 8)  # fmt: skip
    elapsed = time.time() - started
    cut = result.telemetry["schedule_shortened"]
    assert cut is not None and cut["steps"] < cut["planned_steps"] and result.steps == cut["steps"]
    assert not result.stopped_by_deadline and elapsed < 8 + 2
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert result.best_score >= 0.9 and np.isfinite(result.history[-1]["train_loss"])
