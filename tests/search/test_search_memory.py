"""Memory is released between trials: no model, optimizer or tensor survives its trial."""

from __future__ import annotations

import gc

import numpy as np
import optuna
import pytest
import torch
from ratchet_testing import synthetic_rows

from ratchet.config import TrainParams
from ratchet.data.frames import Split
from ratchet.finetuning.finetune import TaskData
from ratchet.search import study as st
from ratchet.search.objective import TrialRunner
from ratchet.search.worker import run_trials

LABELS = ["negative", "neutral", "positive"]


def split(n: int, seed: int) -> Split:
    rows = synthetic_rows(n, seed=seed)
    ids = np.array([LABELS.index(r["sentiment"]) for r in rows], dtype=np.int64)
    return Split([r["review"] for r in rows], None, ids, None)


def live_torch_objects() -> tuple[int, int]:
    gc.collect()
    objects = gc.get_objects()
    modules = sum(isinstance(o, torch.nn.Module) for o in objects)
    tensors = sum(isinstance(o, torch.Tensor) for o in objects)
    return modules, tensors


@pytest.mark.parametrize("n_trials", [12, pytest.param(50, marks=pytest.mark.slow)])
def test_trials_leave_nothing_behind(n_trials, tiny_model_dir, tmp_path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = TrainParams(
        min_steps=0, epochs=1, learning_rate=3e-3, batch_size=8, max_length=32, max_tokens=256, patience=1
    )
    data = TaskData(split(24, 1), split(9, 2), LABELS)
    runner = TrialRunner(str(tiny_model_dir("bert")), data, base, [32], "cpu", 0, tmp_path)
    spec = st.StudySpec("mem", "m", "t", "v", "l", {}, n_trials, 0, 3, "sqlite://")
    study = st.open_study(st.open_storage(f"sqlite:///{tmp_path / 's.db'}"), spec, process_seed=0)
    counts: list[tuple[int, int]] = []
    ran = run_trials(study, runner, n_trials=n_trials, on_trial=lambda: counts.append(live_torch_objects()))
    assert ran == n_trials
    assert st.finished_count(study) == n_trials
    # A model surviving its trial would add its modules and parameter tensors after every trial;
    # what stays is library state created once (activation modules transformers caches, no tensors).
    modules, tensors = zip(*counts, strict=True)
    assert max(modules) == modules[0] and max(tensors) == tensors[0], counts
    rss = [t.user_attrs["memory"]["rss_mb"] for t in study.trials]
    # Allocator noise only: a leaked tiny model per trial would add up to tens of MiB.
    assert rss[-1] - rss[2] < 40, rss
    # Trial folders are removed once a trial is done: checkpoints do not pile up on disk.
    assert not any((tmp_path / "trials").glob("*/state.pt"))
