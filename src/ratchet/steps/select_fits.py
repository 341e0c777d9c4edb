"""select's remembered fits: each rung evaluation (and the few-shot candidate's fit) is written to the step
folder as its judged probabilities plus a small record, so a resumed select reads them back instead of
fine-tuning again."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.config import TrainParams
from ratchet.fsutil import hash_json, read_json, write_json
from ratchet.step import StepContext
from ratchet.training.plan import TooLittleTime
from ratchet.training.schedule import with_epochs


class RungFits:
    """select's rung evaluations: a candidate fine-tuned for some epochs on the first fold (the last rung, at
    full length, on every fold when cross-fitted), scored on its judged rows and remembered in the step folder,
    so a resumed select reads its fits back."""

    def __init__(self, ctx: StepContext, crossfit: Any, train: TrainParams, transformers: list[str], probs: dict,
                 *, keep_folds: bool = False) -> None:  # fmt: skip
        self.ctx, self.crossfit, self.train, self.keep_folds = ctx, crossfit, train, keep_folds
        first = next(crossfit.plan.splits())
        self.data, self.positions = crossfit.fold_data(first), crossfit.plan.positions(first)
        self.fits: dict[str, list[dict[str, Any]]] = {name: [] for name in transformers}
        self.fits_dir = ctx.step_dir / "fits"
        self.probs = probs
        """Judged probabilities by candidate (shared with the step: the linear and few-shot ones join it)."""
        self.fold_models: dict[str, Path] = {}
        """Where each candidate's full-length fit kept its fold models (keep_folds)."""

    def __call__(self, name: str, epochs: float, share: float) -> float | None:
        from ratchet.finetuning.finetune import finetune

        ctx, crossfit, fits_dir = self.ctx, self.crossfit, self.fits_dir
        left = ctx.time_left()
        if left is not None and left <= 0:
            return None  # out of time: rank by the scores so far
        params = with_epochs(self.train, epochs)
        every_fold = crossfit.crossfit and epochs >= self.train.epochs
        key = hash_json([name, asdict(params), ctx.seed, every_fold])[:16]
        cached = load_fit(fits_dir, key)
        if cached is None:
            started = time.time()
            judged = crossfit.empty()
            if every_fold:
                # The configured parameters at full length: exactly train's folds, which the fit cache keeps
                # (with their models when train will keep its fold models: then it reads them back too).
                folds = fits_dir / f"{key}-folds" if self.keep_folds else None
                fit = crossfit.transformer(name, params, seed=ctx.seed, name=f"select-{name}", time_share=share,
                                           refit_reserve=False, fold_models=folds)  # fmt: skip
                if folds is not None:
                    self.fold_models[name] = folds
                if not fit.folds:
                    return None  # the time budget allows no fold: rank by the scores so far
                judged, stopped = fit.probs, any(f.info.get("stopped_by_deadline") for f in fit.folds)
            else:
                deadline = None if left is None else time.time() + max(left, 0.0) * share
                try:
                    result = finetune(
                        name, self.data, params, device=ctx.device, seed=ctx.seed,
                        checkpoint_dir=fits_dir / f"{key}-checkpoint", deadline=deadline, cache=ctx.fit_cache,
                        select_best=not crossfit.crossfit,
                    )  # fmt: skip
                except TooLittleTime:
                    return None
                judged[self.positions], stopped = result.valid_probs, result.stopped_by_deadline
            cached = {
                "epochs": epochs,
                "folds": crossfit.plan.k if every_fold else 1,
                "valid_macro_f1": crossfit.score(judged),
                "seconds": time.time() - started,
                "stopped_by_deadline": stopped,
            }
            save_fit(fits_dir, key, cached, judged)
        self.fits[name].append(cached)
        self.probs[name] = np.load(fits_dir / f"{key}.npy")
        ctx.log.info("select: %s, %.2f epochs -> macro-F1 %.4f", name, epochs, cached["valid_macro_f1"])
        return float(cached["valid_macro_f1"])

    def drop_fold_models(self, keep: str) -> None:
        """Remove the fold models of every candidate but ``keep`` (the fit cache's records stay, without them)."""
        for name, folder in self.fold_models.items():
            if name != keep:
                shutil.rmtree(folder, ignore_errors=True)


def load_fit(fits_dir: Path, key: str) -> dict[str, Any] | None:
    """A fine-tune finished before an interruption is not repeated on --resume."""
    record, array = fits_dir / f"{key}.json", fits_dir / f"{key}.npy"
    return read_json(record) if record.is_file() and array.is_file() else None


def save_fit(fits_dir: Path, key: str, record: dict[str, Any], probs: np.ndarray) -> None:
    from ratchet.finetuning.finetune import save_array

    # Probabilities first, then the record: the record's presence means both are complete.
    save_array(fits_dir / f"{key}.npy", probs)
    write_json(fits_dir / f"{key}.json", record)
