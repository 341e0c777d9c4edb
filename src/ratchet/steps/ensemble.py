"""ensemble (gated): more seeds of the shipped fine-tune, their spread, and their averaged probabilities.

The model train shipped is seed one; seeds seed+1, seed+2, ... repeat its recipe (same
backbone, parameters and data, fold by fold when cross-fitted), with the time left split
evenly. Their spread tells how much of any step's gain could be seed noise. The candidate
is the members' averaged probabilities, judged against the shipped single model; if kept,
a folder of kind "ensemble" ships (in a cross-fitted run, each extra seed is refit on every
train+valid row first, like train's model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ratchet.config import TrainParams
from ratchet.fsutil import read_json
from ratchet.models.recipe_meta import KEY, best_epoch, recipe, set_epochs
from ratchet.shipping import a_model_of_kind
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.train import resolved_backbone, resolved_train_params


@dataclass(frozen=True)
class EnsembleStepParams:
    model: str
    """Backbone used when no earlier step (select, adapt) provided model.backbone."""
    train: TrainParams = field(default_factory=TrainParams)
    seeds: int = 3
    """Members, the shipped model included."""

    def __post_init__(self) -> None:
        from ratchet.errors import RatchetError

        if self.seeds < 2:
            raise RatchetError(f"an ensemble needs at least 2 seeds, got search.seeds={self.seeds}")


class EnsembleStep:
    name: ClassVar[str] = "ensemble"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "data.cleaning", "model.backbone", "train.params", "model.folds",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current", "model.folds")
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.3

    def __init__(self, params: EnsembleStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.models.ensemble import average_probs, save_ensemble, spread

        shipped = ctx.artifacts.get("model.current")
        meta = read_json(Path(shipped) / "ratchet.json")
        if meta.get("kind") != "transformer":
            kind = a_model_of_kind(meta.get("kind"))
            return Skipped(f"the shipped model is {kind}, not one fine-tune to repeat with seeds")
        if meta.get("method") == "fewshot":
            return Skipped("the shipped model is a few-shot fit: its seeds would need few-shot fits, not fine-tunes")
        if "windowing" in meta:  # chunk's model: its seeds would need windows too, which this step does not cut
            return Skipped(
                "the shipped model reads texts in windows (chunk): ensemble repeats only truncated fine-tunes"
            )
        backbone = resolved_backbone(ctx, self.params.model)
        params = resolved_train_params(ctx, self.params.train)
        crossfit = ctx.crossfit
        # train kept its fold models (for compress): each seed keeps its own, and the fold ensembles ship along.
        shipped_folds = _fold_models_of(ctx, Path(shipped)) if crossfit.crossfit else None
        seeds = [ctx.seed + i for i in range(self.params.seeds)]
        fits, member_dirs = [], [Path(shipped)]
        for index, seed in enumerate(seeds):
            member = ctx.step_dir / "seeds" / f"seed-{seed}"
            left = ctx.time_left()
            if index > 1 and left is not None and left <= 0:
                break
            share = 1.0 / (len(seeds) - index)  # this seed's share of the time left, like seed_deadline's
            member_meta = {**meta, KEY: recipe(backbone, params, seed)}
            fold_models = None if shipped_folds is None or index == 0 else member.with_name(f"seed-{seed}-folds")
            fit = crossfit.transformer(
                backbone, params, seed=seed, name=f"seed{seed}", meta=member_meta,
                holdout_model_dir=None if index == 0 else member, time_share=share, fold_models=fold_models,
            )  # fmt: skip
            if index > 0 and not crossfit.crossfit:
                set_epochs(member, best_epoch(fit.folds[0].history) if fit.folds else None)
            if not fit.folds:  # this seed does not fit the time left
                break
            fits.append(fit)
            if index > 0:
                member_dirs.append(member)
        seeds = seeds[: len(fits)]
        scores = [crossfit.score(fit.probs) for fit in fits]
        rows = zip(seeds, scores, fits, strict=True)
        metrics: dict[str, Any] = {
            "seeds": [{"seed": s, "valid_macro_f1": v, "folds": len(f.folds)} for s, v, f in rows],
            "seed_spread": spread([v for v in scores if v is not None]),
            "crossfit": fits[-1].summary(),
        }
        if len(fits) < self.params.seeds:  # (checked against the configured count, not the trimmed list)
            metrics["seeds_note"] = f"the time budget allowed {len(fits)} of {self.params.seeds} seeds"
        if len(fits) < 2:
            return Skipped("the time budget allowed no second seed", metrics)
        out = ctx.step_dir / "ensemble"

        def ship() -> dict[str, Path]:
            if crossfit.crossfit:
                for fit, seed, member in zip(fits[1:], seeds[1:], member_dirs[1:], strict=True):
                    refit = fit.refit_params(params)
                    member_meta = {**meta, KEY: recipe(backbone, refit, seed)}
                    crossfit.refit_transformer(backbone, refit, seed=seed, out_dir=member, meta=member_meta)
            save_ensemble(member_dirs, out)
            metrics["shipped"] = f"an ensemble of {len(member_dirs)} seeds" + (
                f", each refit on all {len(crossfit.pool)} train+valid rows" if crossfit.crossfit else ""
            )
            if shipped_folds is None:
                return {"model.current": out}
            return {"model.current": out, "model.folds": _fold_ensembles(ctx, out, shipped_folds, seeds[1:])}

        return Candidate(probs=average_probs([fit.probs for fit in fits]), metrics=metrics, ship=ship)


def _fold_models_of(ctx: StepContext, shipped: Path) -> Path | None:
    """train's kept fold models, when they are the shipped model's (compress judges through them)."""
    folds = ctx.artifacts.maybe("model.folds")
    if folds is None:
        return None
    record = read_json(Path(folds) / "folds.json")
    return Path(folds) if (Path(folds) / record.get("model", "")).resolve() == shipped.resolve() else None


def _fold_ensembles(ctx: StepContext, shipped: Path, first: Path, seeds: list[int]) -> Path:
    """Fold i of the shipped ensemble: an ensemble of every seed's fold-i model (the folds all seeds ran)."""
    from ratchet.models.ensemble import save_ensemble
    from ratchet.steps.train import fold_models_of

    out = ctx.step_dir / "folds"
    seed_dirs = [first, *(ctx.step_dir / "seeds" / f"seed-{seed}-folds" for seed in seeds)]
    record = read_json(first / "folds.json")
    ran = [i for i in record["folds"] if all((d / f"fold-{i}" / "ratchet.json").is_file() for d in seed_dirs)]
    for i in ran:
        save_ensemble([d / f"fold-{i}" for d in seed_dirs], out / f"fold-{i}")
    return fold_models_of(shipped, out, ran)
