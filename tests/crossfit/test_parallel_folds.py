"""Fold fits side by side in forked workers: waves, worker counts, outcomes, relayed bars and log lines."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from ratchet.crossfit.folds import crossfit_plan, group_ids
from ratchet.crossfit.parallel import Workers, resolve_workers, run_wave, worker_progress
from ratchet.crossfit.results import FoldFit
from ratchet.crossfit.service import CrossFitter, fold_waves
from ratchet.data.frames import Split
from ratchet.errors import RatchetError
from ratchet.finetuning.finetune import TaskData
from ratchet.params import GateParams
from ratchet.training.plan import TooLittleTime


class RecordingProgress:
    """The run's progress as a test sees it: every bar opened, advanced and closed."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    @contextmanager
    def bar(self, description, total, **fields):
        self.events.append(("open", description, total))
        handle = SimpleNamespace(
            advance=lambda n=1, **f: self.events.append(("advance", description, n, f)),
            update=lambda total=None, **f: self.events.append(("update", description, total, f)),
        )
        yield handle
        self.events.append(("close", description))


def fitter(workers: int, deadline: float | None = None, progress=None) -> CrossFitter:
    n = 50
    labels = np.arange(n) % 2
    pool = Split([f"text {i}" for i in range(n)], None, labels, None)
    plan = crossfit_plan(labels, group_ids(n, []), n_train=n - 10, k=5, seed=0)
    ctx = SimpleNamespace(time_left=lambda: None if deadline is None else deadline - time.time(), progress=progress)
    return CrossFitter(plan, pool, TaskData(pool, pool, ["a", "b"]), ["a", "b"], ctx, workers=Workers(workers, 1))


def pid_fold(split, data, deadline) -> FoldFit:
    """Probabilities that name the fold and, in column 1, the process that fit it."""
    probs = np.tile([float(split.fold), float(os.getpid())], (len(data.valid), 1))
    return FoldFit(probs, seconds=0.01, info={"train_rows": len(data.train)})


def test_the_first_fold_runs_alone_then_pairs_and_a_last_single_fold_alone() -> None:
    splits = list(range(5))
    assert fold_waves(splits, 2) == [[0], [1, 2], [3, 4]]
    assert fold_waves(splits[:4], 2) == [[0], [1, 2], [3]]
    assert fold_waves(splits, 3) == [[0], [1, 2, 3], [4]]
    assert fold_waves(splits[:2], 2) == [[0], [1]]  # nothing to pair
    assert fold_waves(splits, 1) == [[0], [1], [2], [3], [4]]


def test_worker_count_follows_the_device_and_the_threads(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr("sys.platform", "linux")
    assert resolve_workers("auto", "cpu") == Workers(2, 1)
    assert resolve_workers("auto", "cuda:0") == Workers(1, 2)  # an accelerator is never forked
    assert resolve_workers(1, "cpu") == Workers(1, 2)
    assert resolve_workers(8, "cpu") == Workers(2, 1)  # never more workers than threads
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert resolve_workers("auto", "cpu") == Workers(2, 4)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert resolve_workers("auto", "cpu") == Workers(1, 1)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    monkeypatch.setattr("sys.platform", "darwin")
    assert resolve_workers("auto", "cpu") == Workers(1, 8)  # measured on Linux only: in turn unless asked
    assert resolve_workers(2, "cpu") == Workers(2, 4)


def test_bad_worker_settings_are_one_line_errors() -> None:
    for bad in (0, -1, "two"):
        with pytest.raises(RatchetError, match=r"gate\.fold_workers"):
            GateParams(fold_workers=bad)
    assert GateParams(fold_workers=3).fold_workers == 3


def test_parallel_folds_give_the_sequential_layout_from_other_processes() -> None:
    sequential = fitter(1).run("probe", pid_fold, parallel=True)
    parallel = fitter(2).run("probe", pid_fold, parallel=True)
    np.testing.assert_array_equal(parallel.probs[:, 0], sequential.probs[:, 0])  # every fold's rows, once
    pids = {fold: set(parallel.probs[parallel.probs[:, 0] == fold, 1]) for fold in range(5)}
    assert pids[0] == {os.getpid()}  # the first fold fills the caches the workers share
    assert all(pids[fold] != {os.getpid()} for fold in (1, 2, 3, 4))
    assert len(pids[1] | pids[2]) == 2  # side by side: two processes
    assert [f.info["train_rows"] for f in parallel.folds] == [f.info["train_rows"] for f in sequential.folds]
    assert parallel.summary()["workers"] == "2 worker processes x 1 thread" and "workers" not in sequential.summary()


def test_a_fit_that_does_not_allow_it_stays_in_this_process() -> None:
    fit = fitter(2).run("relabel", pid_fold)  # parallel defaults to False: the step keeps state in memory
    assert set(fit.probs[:, 1]) == {os.getpid()} and "workers" not in fit.summary()


def test_a_worker_error_reaches_the_step_and_a_dead_worker_names_its_exit_code() -> None:
    def failing(split, data, deadline):
        if split.fold == 2:
            raise ValueError("fold two is broken")
        return pid_fold(split, data, deadline)

    with pytest.raises(ValueError, match="fold two is broken"):
        fitter(2).run("probe", failing, parallel=True)
    outcomes = run_wave([lambda: 7, lambda: os._exit(3)], None, threads=1)
    assert outcomes[0].fitted == 7 and outcomes[0].error is None
    assert isinstance(outcomes[1].error, RuntimeError) and "exit code 3" in str(outcomes[1].error)


def test_too_little_time_in_a_worker_keeps_the_finished_folds_and_says_which_did_not_run() -> None:
    def short_of_time(split, data, deadline):
        if split.fold == 4:
            raise TooLittleTime("not even 8 rows fit in 0.1 s")
        return pid_fold(split, data, deadline)

    fit = fitter(2).run("probe", short_of_time, parallel=True)
    assert len(fit.folds) == 4 and fit.note == "fold 5 of 5 not run: not even 8 rows fit in 0.1 s"
    assert np.isnan(fit.probs).any(axis=1).sum() == 10  # fold 5's 10 judged rows, unjudged


def test_a_workers_bars_and_log_lines_reach_the_run(caplog) -> None:
    progress = RecordingProgress()

    def chatty(split, data, deadline):
        with worker_progress(progress).bar("train", total=3, epoch=1) as bar:
            bar.advance(2, loss=0.5)
            bar.update(total=4)
        logging.getLogger("ratchet").warning("fold %d: checked", split.fold)
        return pid_fold(split, data, deadline)

    with caplog.at_level(logging.INFO, logger="ratchet"):
        fitter(2, progress=progress).run("probe", chatty, parallel=True)
    assert worker_progress("own") == "own"  # outside a worker a fit keeps the run's progress
    relayed = [event for event in progress.events if "fold worker" in event[1]]
    assert ("open", "train (fold worker 1)", 3) in relayed
    assert ("advance", "train (fold worker 2)", 2, {"loss": 0.5}) in relayed
    assert ("update", "train (fold worker 1)", 4, {}) in relayed
    assert sum(event[0] == "close" for event in relayed) == 4  # folds 2-5, each bar closed
    assert ("open", "train", 3) in progress.events  # fold 1 ran here, on the run's own bar
    assert {f"fold {fold}: checked" for fold in (1, 2, 3, 4)} <= {record.getMessage() for record in caplog.records}


def test_a_run_with_folds_side_by_side_judges_what_a_run_with_folds_in_turn_judges(tmp_path, tiny_model_dir) -> None:
    """The same tiny recipe with the folds in turn and two at a time: the same out-of-fold probabilities (up to
    one thread's rounding against two) and decisions; only the ledger's record of how the folds ran differs."""
    from ratchet_testing import FAST_TRAIN, write_train_test

    from ratchet.cli import main
    from ratchet.fsutil import read_json

    data, test = write_train_test(tmp_path, 90, 30, seed=4)
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"run-{workers}"
        args = ["run", str(data), "--test", str(test), "--out", str(out), "--model", str(tiny_model_dir("bert"))]
        args += ["--steps", "clean,split,baseline,train,evaluate", "--quiet", *FAST_TRAIN, "gate.folds=3"]
        assert main([*args, f"gate.fold_workers={workers}"]) == 0
        runs[workers] = out
    ledgers = {w: {e["step"]: e for e in read_json(out / "ledger.json")} for w, out in runs.items()}
    assert ledgers[2]["train"]["crossfit"]["workers"] == "2 worker processes x 1 thread"
    assert ledgers[2]["baseline"]["crossfit"]["workers"] == "2 worker processes x 1 thread"
    assert "workers" not in ledgers[1]["train"]["crossfit"]
    for step in ("baseline", "train"):
        assert ledgers[1][step]["status"] == ledgers[2][step]["status"]
        folder = f"0{3 if step == 'baseline' else 4}-{step}"
        one, two = (np.load(runs[w] / "steps" / folder / "valid_probs.npy") for w in (1, 2))
        assert one.shape == (90, 3) and not np.isnan(one).any()
        np.testing.assert_allclose(two, one, atol=1e-3)
