"""Fit a candidate on every fold (or on the holdout split) and lay its judged probabilities out in one array.

Every gated step asks this service instead of fitting on "train" and scoring "valid" itself,
so holdout and cross-fitted judging are one code path: a holdout plan is a plan with one
fold. A fold that the time budget cannot afford is not started; its rows stay NaN in the
result, the pipeline judges on the rows both sides cover, and the ledger says how many
folds ran.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ratchet.config import TrainParams
from ratchet.crossfit.folds import FoldPlan, FoldSplit
from ratchet.data.frames import Split
from ratchet.training.plan import TooLittleTime

if TYPE_CHECKING:
    from ratchet.search.finetune import TaskData

log = logging.getLogger("ratchet")

REFIT_COST = 1.3
"""A refit on every pool row costs about k/(k-1) of a fold fit (more rows), plus loading: reserved in advance."""


@dataclass
class FoldFit:
    probs: np.ndarray
    """Probabilities of this fold's judged rows."""
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    """The fit's evaluations on the judged rows (watched, never chosen on, in cross-fitted folds)."""
    reused: bool = False
    model_dir: Path | None = None
    """The fitted model, when it was saved (holdout: the model that ships if the candidate is kept)."""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class CrossFit:
    name: str
    probs: np.ndarray
    """(judged rows, labels); rows of folds that did not run are NaN."""
    folds: list[FoldFit]
    k: int
    """Folds planned."""
    note: str | None = None

    @property
    def complete(self) -> bool:
        return len(self.folds) == self.k

    def refit_epochs(self, configured: float) -> float:
        """Epochs for a refit on every row: where the folds' mean judged macro-F1 peaked (the configured epochs
        when the folds recorded no curve). Every fold ran the whole schedule, so this only shortens it."""
        curves = [f.history for f in self.folds if f.history]
        if not curves:
            return configured
        points = min(len(c) for c in curves)
        if points == 0:
            return configured
        mean = np.mean([[entry["valid_macro_f1"] for entry in c[:points]] for c in curves], axis=0)
        best = int(np.argmax(mean))
        epochs = float(statistics.median(c[best]["epoch"] for c in curves))
        return max(min(epochs, configured), 1e-3)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folds_run": len(self.folds),
            "folds_planned": self.k,
            "fold_seconds": [round(f.seconds, 2) for f in self.folds],
            "reused_folds": sum(f.reused for f in self.folds),
            **({"note": self.note} if self.note else {}),
        }


class CrossFitter:
    """One step's access to the plan: fold data, budgeted fold loops, transformer and linear fits."""

    def __init__(
        self, plan: FoldPlan, pool: Split, holdout: TaskData, labels: list, ctx: Any, cleaning: dict | None = None
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

    @property
    def crossfit(self) -> bool:
        return self.plan.crossfit

    def fold_data(self, split: FoldSplit) -> TaskData:
        from ratchet.crossfit import cleaning
        from ratchet.search.finetune import TaskData

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
    ) -> CrossFit:
        """``fit_fold(split, data, deadline)`` on each fold while the budget allows; ``reserve`` seconds (or
        that many fold times, when negative) are kept for what follows (a refit); ``time_share`` of the step's
        time left is all this cross-fit may use (two probes: half each)."""
        probs = self.empty()
        done: list[FoldFit] = []
        splits = [split for split in self.plan.splits() if split.fold not in skip_folds]
        note = None
        started_left = self.ctx.time_left()
        until = None if started_left is None else time.time() + max(started_left, 0.0) * time_share
        for index, split in enumerate(splits):
            left = None if until is None else until - time.time()
            typical = statistics.median(f.seconds for f in done) if done else None
            keep = reserve if reserve >= 0 else (-reserve * typical if typical else 0.0)
            if index > 0 and left is not None and typical is not None and left < typical + keep:
                note = f"the time budget allowed {len(done)} of {len(splits)} folds"
                log.info("%s: %s", name, note)
                break
            deadline = None
            if left is not None:
                deadline = time.time() + max(left - keep, 0.0) / (len(splits) - index)
            try:
                fitted = fit_fold(split, self.fold_data(split), deadline)
            except TooLittleTime as exc:  # not even a subsample of this fold fits: the ledger says why
                note = f"fold {split.fold + 1} of {len(splits)} not run: {exc}"
                log.info("%s: %s", name, note)
                break
            probs[self.plan.positions(split)] = fitted.probs
            done.append(fitted)
        return CrossFit(name, probs, done, len(splits), note)

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
        from ratchet.search.finetune import finetune

        ctx = self.ctx

        def fit_fold(split: FoldSplit, data: TaskData, deadline: float | None) -> FoldFit:
            checkpoint = ctx.step_dir / f"checkpoint-{name}-fold{split.fold}-seed{seed}"
            model_dir = holdout_model_dir
            if self.crossfit:
                model_dir = None if fold_models is None else fold_models / f"fold-{split.fold}"
            result = finetune(
                backbone, data, params, device=ctx.device, seed=seed, checkpoint_dir=checkpoint, deadline=deadline,
                save_to=model_dir, save_meta=meta, cache=ctx.fit_cache, progress=ctx.progress,
                select_best=not self.crossfit, keep_model=fold_models is not None,
            )  # fmt: skip
            info = {"steps": result.steps, "stopped_by_deadline": result.stopped_by_deadline,
                    "best_valid_macro_f1": result.best_score, "telemetry": result.telemetry,
                    "resumed_from_step": result.resumed_from_step, "plan": result.plan}  # fmt: skip
            return FoldFit(result.valid_probs, result.seconds, result.history, result.reused, model_dir, info)

        reserve = -REFIT_COST if self.crossfit and refit_reserve else 0.0
        return self.run(name, fit_fold, reserve=reserve, time_share=time_share, skip_folds=skip_folds)

    def refit_transformer(
        self, backbone: str, params: TrainParams, *, seed: int, out_dir: Path, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The shipped model of a cross-fitted candidate: the same fine-tune on every pool row (``params.epochs``
        fixed beforehand, e.g. by ``CrossFit.refit_epochs``), no evaluation, saved to ``out_dir``."""
        from ratchet.search.finetune import TaskData, finetune

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

        Holdout: C chosen on the valid rows, the model fit on the train rows (as always). Cross-fitted: each
        fold chooses C inside its training part; the shipped model does the same on every pool row.
        """
        from ratchet.crossfit.linear_folds import fit_linear_choosing_c
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

        def fit_fold(split: FoldSplit, data: TaskData, deadline: float | None) -> FoldFit:
            started = time.time()
            fitted = fit_linear_choosing_c(data.train, n_labels, params, ctx.seed + split.fold, deadline)
            probs = fitted.model.predict_proba(data.valid.texts, data.valid.pairs)
            return FoldFit(probs, time.time() - started, info={"C": fitted.model.C})

        fit = self.run("baseline", fit_fold)
        if out_dir is None:
            return fit, None
        shipped = fit_linear_choosing_c(self.refit_rows(), n_labels, params, ctx.seed, ctx.deadline)
        save_linear(shipped.model, self.labels, out_dir, {**meta, "C": shipped.model.C, "refit_rows": len(self.pool)})
        return fit, shipped
