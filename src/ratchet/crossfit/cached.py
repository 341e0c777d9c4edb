"""A fine-tune's fold fits as an earlier step of the run left them in the fit cache: read back, never trained.

blend asks for train's fine-tune after the rule rejected it: its out-of-fold probabilities still
exist (the cache keeps every finished fold fit), so a blend of it with the baseline costs nothing
to judge, and only a refit if kept. Reading from the cache alone keeps that promise: a fold the
run never fitted (budget, a fit cut by its deadline, other data or parameters) stays NaN, and
no fold at all gives None.
"""

from __future__ import annotations

from typing import Any

from ratchet.config import TrainParams
from ratchet.crossfit.results import CrossFit, FoldFit


def cached_transformer(crossfit: Any, backbone: str, params: TrainParams, *, seed: int, name: str) -> CrossFit | None:
    """The folds of ``crossfit`` (a CrossFitter) that the run's fit cache holds for this fine-tune, laid out as
    ``CrossFitter.transformer`` lays them out (None: not one fold is cached)."""
    cache = crossfit.ctx.fit_cache
    probs, done = crossfit.empty(), []
    splits = list(crossfit.plan.splits())
    for split in splits:
        key = cache.key(backbone, params, seed, crossfit.fold_data(split), select_best=not crossfit.crossfit)
        hit = cache.load(key)
        if hit is None:
            continue
        result = hit.result
        probs[crossfit.plan.positions(split)] = result.valid_probs
        info = {"steps": result.steps, "stopped_by_deadline": result.stopped_by_deadline}
        done.append(FoldFit(result.valid_probs, result.seconds, result.history, True, hit.model_dir, info))
    if not done:
        return None
    note = None if len(done) == len(splits) else f"the run's fit cache holds {len(done)} of {len(splits)} folds"
    return CrossFit(name, probs, done, len(splits), note)
