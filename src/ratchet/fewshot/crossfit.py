"""The few-shot candidate through the crossfit service: judged on the same rows as every other candidate.

Holdout: one fit on the train rows, judged on the valid rows. Cross-fitted: one fit per fold,
judged on its held-out fold, then (if it ships) a refit on every train+valid row. Fits are kept
in the run's cache (``RUN/cache/fewshot/KEY``) so that ``train`` reads back the fits ``select``
already judged instead of repeating them; a fit stopped by the time budget is never kept.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.crossfit.folds import FoldSplit
from ratchet.crossfit.results import CrossFit, FoldFit
from ratchet.crossfit.service import REFIT_COST, CrossFitter
from ratchet.fewshot.params import FewShotParams
from ratchet.fsutil import atomic_dir, hash_json, read_json, write_json

METHOD = "fewshot"
PROBS, RECORD, MODEL = "valid_probs.npy", "fit.json", "model"


def fewshot_meta(backbone: str, params: FewShotParams, seed: int) -> dict[str, Any]:
    """ratchet.json of a shipped few-shot model: what it is and how it was fitted. No ``recipe`` key: that is a
    standard fine-tune's, which --refit-all would rerun; a few-shot model is refit by its own path."""
    return {"kind": "transformer", "backbone": backbone, "max_length": params.max_length, "text_pair": False,
            "method": METHOD, METHOD: dataclasses.asdict(params), "seed": int(seed)}  # fmt: skip


def crossfit_fewshot(
    crossfit: CrossFitter,
    backbone: str,
    params: FewShotParams,
    *,
    seed: int,
    name: str = METHOD,
    time_share: float = 1.0,
    holdout_model_dir: Path | None = None,
    fold_models: Path | None = None,
    keep_models: bool = False,
    refit_reserve: bool = False,
) -> CrossFit:
    """A few-shot fit per fold of the plan (like ``CrossFitter.transformer``). The model of a holdout fit is
    saved to ``holdout_model_dir``; a cross-fitted fold's to ``fold_models/fold-<i>`` when given.
    ``keep_models``: the cache keeps each fit's model too (select in holdout mode: train ships it)."""
    meta = fewshot_meta(backbone, params, seed)

    def fit_fold(split: FoldSplit, data: Any, deadline: float | None) -> FoldFit:
        model_dir = holdout_model_dir
        if crossfit.crossfit:
            model_dir = None if fold_models is None else fold_models / f"fold-{split.fold}"
        return cached_fit(crossfit.ctx, backbone, data, params, seed=seed, deadline=deadline, save_to=model_dir,
                          meta=meta, keep_model=keep_models and not crossfit.crossfit)  # fmt: skip

    reserve = -REFIT_COST if crossfit.crossfit and refit_reserve else 0.0
    return crossfit.run(name, fit_fold, reserve=reserve, time_share=time_share, parallel=True)


def refit_fewshot(
    crossfit: CrossFitter, backbone: str, params: FewShotParams, *, seed: int, out_dir: Path
) -> dict[str, Any]:
    """The shipped model of a cross-fitted few-shot pick: the same fit on every pool row, saved to ``out_dir``."""
    from ratchet.finetuning.finetune import TaskData

    everything = TaskData(crossfit.refit_rows(), crossfit.pool.subset(np.zeros(0, dtype=np.int64)), crossfit.labels)
    fitted = cached_fit(crossfit.ctx, backbone, everything, params, seed=seed, deadline=None, save_to=out_dir,
                        meta=fewshot_meta(backbone, params, seed), keep_model=False)  # fmt: skip
    return {"rows": len(everything.train), "seconds": round(fitted.seconds, 2), **fitted.info}


def cached_fit(
    ctx: Any,
    backbone: str,
    data: Any,
    params: FewShotParams,
    *,
    seed: int,
    deadline: float | None,
    save_to: Path | None,
    meta: dict[str, Any],
    keep_model: bool,
) -> FoldFit:
    """One few-shot fit, read back from the run's cache when an identical one (backbone, parameters, data, seed,
    device) ran before - with its model, when a model is asked for."""
    from ratchet.fewshot.fit import fit_fewshot
    from ratchet.finetuning.finetune import release_memory
    from ratchet.finetuning.fitcache import backbone_identity, copy_model
    from ratchet.models.load import save_classifier

    root = Path(ctx.fit_cache.root).parent / METHOD
    key = hash_json([backbone_identity(backbone), dataclasses.asdict(params), data.fingerprint(), seed,
                     ctx.device])[:24]  # fmt: skip
    entry = root / key
    if (entry / RECORD).is_file() and (save_to is None or (entry / MODEL / "ratchet.json").is_file()):
        if save_to is not None:
            copy_model(entry / MODEL, save_to, meta)
        record = read_json(entry / RECORD)
        return FoldFit(np.load(entry / PROBS), record["seconds"], reused=True, model_dir=save_to, info=record["info"])

    started = time.time()
    fitted = fit_fewshot(backbone, data, params, device=ctx.device, seed=seed, deadline=deadline)
    if save_to is not None:
        save_classifier(fitted.model, fitted.tokenizer, data.labels, save_to, meta)
    if not fitted.info["stopped_by_deadline"]:
        _store(entry, fitted, data.labels, meta if keep_model else None)
    result = FoldFit(fitted.valid_probs, time.time() - started, model_dir=save_to, info=dict(fitted.info))
    del fitted
    release_memory()
    return result


def _store(entry: Path, fitted: Any, labels: list, model_meta: dict[str, Any] | None) -> None:
    """Write a finished fit into the cache: probabilities, record last; the model too when ``model_meta``."""
    from ratchet.finetuning.finetune import save_array
    from ratchet.models.load import save_classifier

    def build(tmp: Path) -> None:
        save_array(tmp / PROBS, fitted.valid_probs)
        if model_meta is not None:
            save_classifier(fitted.model, fitted.tokenizer, labels, tmp / MODEL, model_meta)
        write_json(tmp / RECORD, {"seconds": fitted.seconds, "info": fitted.info})

    atomic_dir(entry, build)
