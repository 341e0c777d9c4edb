"""train's path when select picked the few-shot candidate: judge it like any fine-tune, then ship it.

The same three shapes as a standard fine-tune (steps/train.py): holdout, the fit on the train rows
ships; cross-fitted, the fold fits are judged out of fold and, if kept, the same fit is refit on
every train+valid row (gate.ship=refit) or the fold models ship as an ensemble (gate.ship=folds).
The fits select already judged are read back from the run's cache, not repeated.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ratchet.fewshot.crossfit import crossfit_fewshot, refit_fewshot
from ratchet.fewshot.params import FewShotParams
from ratchet.step import Candidate, Outcome, Skipped, StepContext


def picked_fewshot(backbone_file: Path | None) -> FewShotParams | None:
    """The few-shot parameters when select's model.backbone says the few-shot candidate won, else None."""
    if backbone_file is None:
        return None
    from ratchet.fsutil import read_json

    choice = read_json(Path(backbone_file))
    return FewShotParams(**choice["fewshot"]) if choice.get("method") == "fewshot" else None


def train_fewshot(ctx: StepContext, backbone: str, params: FewShotParams, *, ship: str, keep_folds: bool) -> Outcome:
    from ratchet.steps.train import refit_provides, ship_folds

    crossfit = ctx.crossfit
    model_dir = ctx.step_dir / "model"
    ship_folds_only = crossfit.crossfit and ship == "folds"
    folds_dir = ctx.step_dir / "folds" if crossfit.crossfit and (ship_folds_only or keep_folds) else None
    ctx.log.info("train: few-shot (SetFit-style) fit of %s, %s", backbone,
                 f"{crossfit.plan.k} folds" if crossfit.crossfit else "holdout")  # fmt: skip
    fit = crossfit_fewshot(crossfit, backbone, params, seed=ctx.seed, name="train-fewshot",
                           holdout_model_dir=model_dir, fold_models=folds_dir,
                           refit_reserve=not ship_folds_only)  # fmt: skip
    if not fit.folds:
        return Skipped(f"no few-shot fit fits the time budget: {fit.note}", {"crossfit": fit.summary()})
    metrics: dict[str, Any] = {
        "backbone": backbone,
        "method": "fewshot",
        "fewshot_params": dataclasses.asdict(params),
        "fewshot_fit": fit.folds[0].info,
        "crossfit": fit.summary(),
        "best_valid_macro_f1": crossfit.score(fit.probs),
    }
    if not crossfit.crossfit:
        metrics["shipped"] = f"the few-shot (SetFit-style) model of {backbone}, fitted on the train rows"
        return Candidate(probs=fit.probs, provides={"model.current": model_dir}, metrics=metrics)
    if ship_folds_only:
        return Candidate(probs=fit.probs, metrics=metrics, ship=lambda: ship_folds(ctx, fit, folds_dir, metrics))

    def ship_refit() -> dict[str, Path]:
        metrics["refit"] = refit_fewshot(crossfit, backbone, params, seed=ctx.seed, out_dir=model_dir)
        metrics["shipped"] = (
            f"the few-shot (SetFit-style) fit of {backbone} refit on all {len(crossfit.pool)} train+valid rows; "
            f"its estimate is the out-of-fold one of {len(fit.folds)} fold models"
        )
        return refit_provides(model_dir, folds_dir, fit.k)

    return Candidate(probs=fit.probs, metrics=metrics, ship=ship_refit)
