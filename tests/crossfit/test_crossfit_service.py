"""The cross-fitting service: judged layout, the budget's fewer folds, refit epochs from the folds' curves."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from ratchet.crossfit.folds import crossfit_plan, group_ids
from ratchet.crossfit.results import CrossFit, FoldFit
from ratchet.crossfit.service import CrossFitter
from ratchet.data.frames import Split
from ratchet.finetuning.finetune import TaskData


def fitter(deadline: float | None = None, n: int = 50, k: int = 5) -> CrossFitter:
    labels = np.arange(n) % 2
    pool = Split([f"text {i}" for i in range(n)], None, labels, None)
    plan = crossfit_plan(labels, group_ids(n, []), n_train=n - 10, k=k, seed=0)
    ctx = SimpleNamespace(time_left=lambda: None if deadline is None else deadline - time.time())
    return CrossFitter(plan, pool, TaskData(pool, pool, ["a", "b"]), ["a", "b"], ctx)


def test_each_fold_fills_exactly_its_held_out_rows() -> None:
    cf = fitter()

    def fit_fold(split, data, deadline) -> FoldFit:
        assert len(data.train) == len(split.train) and len(data.valid) == len(split.judged)
        assert not set(data.train.texts) & set(data.valid.texts)
        return FoldFit(np.tile([split.fold, 1.0], (len(split.judged), 1)).astype(np.float32))

    fit = cf.run("probe", fit_fold)
    assert fit.complete and not np.isnan(fit.probs).any()
    np.testing.assert_array_equal(fit.probs[:, 0], cf.plan.fold_of)


def test_a_budget_that_cannot_afford_every_fold_runs_fewer_and_says_so() -> None:
    cf = fitter(deadline=time.time() + 0.5)

    def slow_fold(split, data, deadline) -> FoldFit:
        time.sleep(0.2)
        return FoldFit(np.full((len(split.judged), 2), 0.5, np.float32), seconds=0.2)

    fit = cf.run("probe", slow_fold)
    assert 1 <= len(fit.folds) < 5 and fit.note == f"the time budget allowed {len(fit.folds)} of 5 folds"
    covered = ~np.isnan(fit.probs).any(axis=1)
    assert covered.sum() == sum(len(s.judged) for s in list(cf.plan.splits())[: len(fit.folds)])


def test_skipped_folds_stay_unjudged() -> None:
    cf = fitter()
    fit = cf.run("finalist", lambda s, d, t: FoldFit(np.full((len(s.judged), 2), 0.5, np.float32)), skip_folds=(0,))
    assert np.isnan(fit.probs[cf.plan.fold_of == 0]).all() and not np.isnan(fit.probs[cf.plan.fold_of != 0]).any()


def test_refit_epochs_follow_the_peak_of_the_folds_mean_curve() -> None:
    def history(scores: list[float]) -> list[dict]:
        return [{"epoch": e + 1.0, "valid_macro_f1": v} for e, v in enumerate(scores)]

    peaked = CrossFit("x", np.zeros((1, 2)), [FoldFit(np.zeros((1, 2)), history=history(c)) for c in
                                              ([0.5, 0.7, 0.6, 0.55], [0.4, 0.6, 0.65, 0.5])], 2)  # fmt: skip
    assert peaked.refit_epochs(4.0) == 2.0  # mean curve 0.45, 0.65, 0.625, 0.525: the peak is the second epoch
    rising = CrossFit("x", np.zeros((1, 2)), [FoldFit(np.zeros((1, 2)), history=history([0.3, 0.5, 0.6, 0.7]))], 1)
    assert rising.refit_epochs(4.0) == 4.0
    assert CrossFit("x", np.zeros((1, 2)), [FoldFit(np.zeros((1, 2)))], 1).refit_epochs(5.0) == 5.0
