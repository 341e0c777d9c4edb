"""Fit a candidate on every fold (or on the holdout split) and lay its judged probabilities out in one array.

Every gated step asks this service instead of fitting on "train" and scoring "valid" itself,
so holdout and cross-fitted judging are one code path: a holdout plan is a plan with one
fold. A fold that the time budget cannot afford is not started; its rows stay NaN in the
result, the pipeline judges on the rows both sides cover, and the ledger says how many
folds ran.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ratchet.config import TrainParams
from ratchet.crossfit.folds import FoldPlan, FoldSplit
from ratchet.crossfit.parallel import PARALLEL_COST, Workers, run_wave, worker_progress
from ratchet.crossfit.results import CrossFit, FoldFit
from ratchet.data.frames import Split
from ratchet.training.plan import TooLittleTime

if TYPE_CHECKING:
    from ratchet.finetuning.finetune import TaskData

log = logging.getLogger("ratchet")

REFIT_COST = 1.3
"""A refit on every pool row costs about k/(k-1) of a fold fit (more rows), plus loading: reserved in advance."""


class CrossFitter:
    """One step's access to the plan: fold data, budgeted fold loops, transformer and linear fits."""

    def __init__(
        self,
        plan: FoldPlan,
        pool: Split,
        holdout: TaskData,
        labels: list,
        ctx: Any,
        cleaning: dict | None = None,
        workers: Workers | None = None,
    ) -> None:
        self.plan = plan
        self.pool = pool
        """Train rows, then valid rows: what a cross-fitted plan's positions index."""
        self.holdout = holdout
        """The step's own train/valid data (a relabeled train included): the one fold of a holdout plan."""
        self.labels = labels
        self.ctx = ctx
        self.cleaning = cleaning
        """A kept cross-fitted relabel (data.cleaning): each fold's training rows get its changes."""
        self.workers = workers or Workers(1, 0)
        """Fold fits at once for the fits that allow it (gate.fold_workers)."""

    @property
    def crossfit(self) -> bool:
        return self.plan.crossfit

    def fold_data(self, split: FoldSplit) -> TaskData:
        from ratchet.crossfit import cleaning
        from ratchet.finetuning.finetune import TaskData

        if not self.crossfit:
            return self.holdout
        train = cleaning.apply(self.pool, split.train, cleaning.fold_entry(self.cleaning, split.fold))
        return TaskData(train, self.pool.subset(split.judged), self.labels)

    def refit_rows(self) -> Split:
        """Every pool row, with a kept relabel's pool-wide changes: what a refit trains on."""
        from ratchet.crossfit import cleaning

        return cleaning.apply(self.pool, np.arange(len(self.pool)), cleaning.fold_entry(self.cleaning, None))

    def judged_labels(self) -> np.ndarray:
        """True label ids of the judged rows, laid out like every CrossFit's ``probs``."""
        if not self.crossfit:
            return self.holdout.valid.label_ids
        return self.pool.label_ids[self.plan.judged_rows()]

    def score(self, probs: np.ndarray, metric: str = "macro_f1") -> float | None:
        """``metric`` over the judged rows ``probs`` covers (None: none)."""
        from ratchet.evaluation.metrics import score
        from ratchet.gate import covered

        rows = covered(probs)
        return float(score(metric, self.judged_labels()[rows], probs[rows])) if rows.any() else None

    def empty(self) -> np.ndarray:
        return np.full((self.plan.n_judged, len(self.labels)), np.nan, dtype=np.float32)

    def run(
        self,
        name: str,
        fit_fold: Callable[[FoldSplit, TaskData, float | None], FoldFit],
        *,
        reserve: float = 0.0,
        time_share: float = 1.0,
        skip_folds: tuple[int, ...] = (),
        parallel: bool = False,
    ) -> CrossFit:
        """``fit_fold(split, data, deadline)`` on each fold while the budget allows; ``reserve`` seconds (or
        that many fold times, when negative) are kept for what follows (a refit); ``time_share`` of the step's
        time left is all this cross-fit may use (two probes: half each). ``parallel``: ``fit_fold`` keeps
        nothing in memory that the step reads later (its results travel back; files stay), so folds after the
        first may run in forked workers (gate.fold_workers; crossfit/parallel.py)."""
        probs = self.empty()
        done: list[FoldFit] = []
        alone: list[float] = []
        """Each finished fold's seconds as if fit alone with every thread: what budgets plan with."""
        splits = [split for split in self.plan.splits() if split.fold not in skip_folds]
        workers = self.workers if parallel else Workers(1, 0)
        waves = fold_waves(splits, workers.count)
        note, side_by_side = None, False
        started_left = self.ctx.time_left()
        until = None if started_left is None else time.time() + max(started_left, 0.0) * time_share
        for index, wave in enumerate(waves):
            left = None if until is None else until - time.time()
            typical = statistics.median(alone) if alone else None
            keep = reserve if reserve >= 0 else (-reserve * typical if typical else 0.0)
            if done and left is not None and typical is not None and left < typical * wave_cost(wave) + keep:
                note = f"the time budget allowed {len(done)} of {len(splits)} folds"
                log.info("%s: %s", name, note)
                break
            deadline = None
            if left is not None:
                share = wave_cost(wave) / sum(wave_cost(w) for w in waves[index:])
                deadline = time.time() + max(left - keep, 0.0) * share
            fitted, failure = self._fit_wave(wave, fit_fold, deadline, workers)
            side_by_side = side_by_side or len(wave) > 1
            for split, fit in zip(wave, fitted, strict=True):
                if fit is None:
                    continue
                probs[self.plan.positions(split)] = fit.probs
                done.append(fit)
                alone.append(fit.seconds / wave_cost(wave))
            if failure is not None:  # not even a subsample of a fold fits: the ledger says why
                note = f"fold {failure[0].fold + 1} of {len(splits)} not run: {failure[1]}"
                log.info("%s: %s", name, note)
                break
        crossfit = CrossFit(name, probs, done, len(splits), note)
        if side_by_side:
            crossfit.workers = workers.describe()
        return crossfit

    def _fit_wave(
        self, wave: list[FoldSplit], fit_fold: Callable, deadline: float | None, workers: Workers
    ) -> tuple[list[FoldFit | None], tuple[FoldSplit, TooLittleTime] | None]:
        """The wave's fits in split order (None where one did not finish), and the first fold that had too
        little time; any other error is raised, as it would be from a fit in this process."""
        if len(wave) == 1:
            try:
                return [fit_fold(wave[0], self.fold_data(wave[0]), deadline)], None
            except TooLittleTime as exc:
                return [None], (wave[0], exc)
        jobs = [lambda split=split: fit_fold(split, self.fold_data(split), deadline) for split in wave]
        outcomes = run_wave(jobs, self.ctx.progress, workers.threads)
        failure = None
        for split, outcome in zip(wave, outcomes, strict=True):
            if isinstance(outcome.error, TooLittleTime):
                failure = failure or (split, outcome.error)
            elif outcome.error is not None:
                raise outcome.error
        return [outcome.fitted for outcome in outcomes], failure

    # -- the two kinds of model ------------------------------------------------------------------------------
    def transformer(
        self,
        backbone: str,
        params: TrainParams,
        *,
        seed: int,
        name: str = "fine-tune",
        holdout_model_dir: Path | None = None,
        meta: dict[str, Any] | None = None,
        refit_reserve: bool = True,
        time_share: float = 1.0,
        skip_folds: tuple[int, ...] = (),
        fold_models: Path | None = None,
    ) -> CrossFit:
        """Fine-tune per fold. Holdout: early stopping on the valid rows, the model saved to ``holdout_model_dir``.
        Cross-fitted: the whole schedule, final weights, judged on the held-out fold; each fold's model is
        saved to ``fold_models/fold-<i>`` when asked (gate.ship=folds), else nowhere."""
        from ratchet.finetuning.finetune import finetune

        ctx = self.ctx

        def fit_fold(split: FoldSplit, data: TaskData, deadline: float | None) -> FoldFit:
            # One folder, whatever the name holds: a model's name may be a path or "org/model".
            folder = re.sub(r"[^\w.-]+", "_", f"checkpoint-{name}-fold{split.fold}-seed{seed}")
            checkpoint = ctx.step_dir / folder
            model_dir = holdout_model_dir
            if self.crossfit:
                model_dir = None if fold_models is None else fold_models / f"fold-{split.fold}"
            result = finetune(
                backbone, data, params, device=ctx.device, seed=seed, checkpoint_dir=checkpoint, deadline=deadline,
                save_to=model_dir, save_meta=meta, cache=ctx.fit_cache, progress=worker_progress(ctx.progress),
                select_best=not self.crossfit, keep_model=fold_models is not None,
            )  # fmt: skip
            info = {"steps": result.steps, "stopped_by_deadline": result.stopped_by_deadline,
                    "best_valid_macro_f1": result.best_score, "telemetry": result.telemetry,
                    "resumed_from_step": result.resumed_from_step, "plan": result.plan}  # fmt: skip
            return FoldFit(result.valid_probs, result.seconds, result.history, result.reused, model_dir, info)

        reserve = -REFIT_COST if self.crossfit and refit_reserve else 0.0
        return self.run(name, fit_fold, reserve=reserve, time_share=time_share, skip_folds=skip_folds, parallel=True)

    def refit_transformer(
        self, backbone: str, params: TrainParams, *, seed: int, out_dir: Path, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The shipped model of a cross-fitted candidate: the same fine-tune on every pool row (``params.epochs``
        fixed beforehand, e.g. by ``CrossFit.refit_epochs``), no evaluation, saved to ``out_dir``."""
        from ratchet.finetuning.finetune import TaskData, finetune

        ctx = self.ctx
        everything = TaskData(self.refit_rows(), self.pool.subset(np.zeros(0, dtype=np.int64)), self.labels)
        result = finetune(
            backbone, everything, params, device=ctx.device, seed=seed,
            checkpoint_dir=ctx.step_dir / f"checkpoint-refit-seed{seed}", deadline=None, save_to=out_dir,
            save_meta=meta, cache=ctx.fit_cache, progress=ctx.progress, select_best=False, keep_model=True,
        )  # fmt: skip
        return {"rows": len(everything.train), "epochs": params.epochs, "steps": result.steps,
                "seconds": result.seconds, "reused_fit": result.reused}  # fmt: skip

    def linear(self, params: Any, *, out_dir: Path | None, meta: dict[str, Any]) -> tuple[CrossFit, Any]:
        """The TF-IDF baseline per fold, and the model that ships (saved to ``out_dir``) -> (fit, LinearFit);
        ``out_dir`` None: the folds only (cross-fitted), nothing refit or saved.

        Holdout: C chosen on the valid rows, the model fit on the train rows (as always). Cross-fitted: the
        shipped model chooses C on an inner holdout of the pool and every fold fits with that C, so that the fold
        models score on one scale (linear_folds).
        """
        from ratchet.crossfit.linear_folds import fit_linear_choosing_c, fit_linear_with_c
        from ratchet.models.linear import fit_linear
        from ratchet.models.linear_folder import save_linear

        ctx, n_labels = self.ctx, len(self.labels)
        if not self.crossfit:
            train, valid = self.holdout.train, self.holdout.valid
            fitted = fit_linear(
                train.texts, train.label_ids, valid.texts, valid.label_ids, n_labels, train_pairs=train.pairs,
                valid_pairs=valid.pairs, weights=train.weights, params=params, seed=ctx.seed, deadline=ctx.deadline,
            )  # fmt: skip
            if out_dir is not None:
                save_linear(fitted.model, self.labels, out_dir, {**meta, "C": fitted.model.C})
            fold = FoldFit(fitted.valid_probs, fitted.seconds, info={"C": fitted.model.C, "grid": fitted.grid})
            probs = self.empty()
            probs[:] = fitted.valid_probs
            return CrossFit("baseline", probs, [fold], 1), fitted

        shipped = fit_linear_choosing_c(self.refit_rows(), n_labels, params, ctx.seed, ctx.deadline)

        def fit_fold(split: FoldSplit, data: TaskData, deadline: float | None) -> FoldFit:
            started, seed = time.time(), ctx.seed + split.fold
            model = fit_linear_with_c(data.train, n_labels, params, shipped.model.C, seed)
            probs = model.predict_proba(data.valid.texts, data.valid.pairs)
            return FoldFit(probs, time.time() - started, info={"C": model.C})

        fit = self.run("baseline", fit_fold, parallel=True)
        if out_dir is None:
            return fit, None
        save_linear(shipped.model, self.labels, out_dir, {**meta, "C": shipped.model.C, "refit_rows": len(self.pool)})
        return fit, shipped


def fold_waves(splits: list[FoldSplit], workers: int) -> list[list[FoldSplit]]:
    """The first fold alone (it fills the process's caches, which forked workers then share, and times a fold
    for the budget), then groups of ``workers``; a last fold without a partner runs alone, with every thread."""
    if workers <= 1 or len(splits) <= 2:
        return [[split] for split in splits]
    waves = [[splits[0]]]
    rest = splits[1:]
    for start in range(0, len(rest), workers):
        group = rest[start : start + workers]
        waves.extend([[split] for split in group] if len(group) == 1 else [group])
    return waves


def wave_cost(wave: list[FoldSplit]) -> float:
    """A wave's time in fold fits alone: side by side, each fit takes PARALLEL_COST times as long."""
    return 1.0 if len(wave) == 1 else PARALLEL_COST
