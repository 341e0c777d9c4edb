"""refit_all (``--refit-all``, only without ``--test``): after the sealed evaluation, refit on every labeled row.

When the test split was carved from the user's file, those rows are labeled data the model never
trained on. Once the sealed evaluation has been written, this step refits the shipped recipe on
every labeled row (train + valid + test), with the same backbone, parameters, epochs and seed,
and ships that. The evaluated model and the shipped one then differ: ``metrics.json`` keeps the
evaluated model's figures, and the ledger and report say that the shipped model was not the one
evaluated (its only estimate is the evaluated model's). The only step besides evaluate that may
read the sealed test, and only after evaluate has run (the recipe check puts it after).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.fsutil import read_json, write_json
from ratchet.shipping import a_model_of_kind
from ratchet.step import Completed, Outcome, Skipped, StepContext

NOT_EVALUATED = "refit on every labeled row after the sealed evaluation: not the model evaluated"


@dataclass(frozen=True)
class RefitAllParams:
    enabled: bool = True


class RefitAllStep:
    name: ClassVar[str] = "refit_all"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.test", "data.labels", "model.current",
                                           "metrics")  # fmt: skip
    optional: ClassVar[tuple[str, ...]] = ("data.folds", "data.cleaning")
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = False
    budget_share: ClassVar[float] = 0.3

    def __init__(self, params: RefitAllParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.data.frames import Split, read_split

        shipped = Path(ctx.artifacts.get("model.current"))
        crossfit = ctx.crossfit
        test = read_split(ctx.artifacts.get("data.test"))
        rows = Split.concat(crossfit.refit_rows() if crossfit.crossfit else Split.concat(*_holdout(crossfit)), test)
        out = ctx.step_dir / "model"
        refit, why = _refit(ctx, shipped, rows, crossfit.labels, out)
        if refit is None:
            return Skipped(f"{why}: the evaluated model ships as it is")
        if (shipped / "decision.json").is_file():  # the temperature and biases judged on the judged rows
            shutil.copy2(shipped / "decision.json", out / "decision.json")
        meta = read_json(out / "ratchet.json")
        write_json(out / "ratchet.json", {**meta, "refit_all": {"rows": len(rows), "note": NOT_EVALUATED}})
        metrics = {"rows": len(rows), "shipped": f"{NOT_EVALUATED} ({len(rows)} rows); its estimate is the "
                   "evaluated model's sealed test", **refit}  # fmt: skip
        return Completed(provides={"model.current": out}, metrics=metrics)


def _holdout(crossfit: Any) -> tuple[Any, Any]:
    return crossfit.holdout.train, crossfit.holdout.valid


def _refit(ctx: StepContext, model: Path, rows: Any, labels: list, out: Path) -> tuple[dict | None, str]:
    """Refit the model folder's recipe on ``rows`` into ``out``: a linear model, a fine-tune, or an ensemble
    of those (each member refit). (None, why) when the folder holds no recipe to refit."""
    meta = read_json(model / "ratchet.json")
    kind = meta.get("kind")
    if kind == "linear":
        from ratchet.crossfit.linear_folds import fit_linear_choosing_c
        from ratchet.models.linear import LinearParams
        from ratchet.models.linear_folder import save_linear

        fitted = fit_linear_choosing_c(rows, len(labels), LinearParams(), ctx.seed)
        save_linear(fitted.model, labels, out, {**meta, "C": fitted.model.C})
        return {"kind": "linear", "C": fitted.model.C}, ""
    if kind == "transformer":
        from ratchet.finetuning.finetune import TaskData, finetune
        from ratchet.models.recipe_meta import read_recipe

        found = read_recipe(model)
        if found is None:
            return None, "the shipped model records no recipe to refit (a self-trained student, say)"
        backbone, params, seed = found
        everything = TaskData(rows, rows.subset(np.zeros(0, dtype=np.int64)), labels)
        windowing = meta.get("windowing")
        if isinstance(windowing, dict):  # a chunk model: refit on the same windows it was trained on
            from ratchet.chunking.data import window_task_data
            from ratchet.chunking.predict import cut_of, loss_of
            from ratchet.data.coverage import load_tokenizer

            everything = window_task_data(everything, load_tokenizer(backbone), backbone, params.max_length,
                                          int(windowing["stride"]), **cut_of(windowing),
                                          loss=loss_of(windowing))  # fmt: skip
        result = finetune(backbone, everything, params, device=ctx.device, seed=seed,
                          checkpoint_dir=ctx.step_dir / f"checkpoint-{out.name}", deadline=None, save_to=out,
                          save_meta={k: v for k, v in meta.items() if k != "refit_all"}, select_best=False,
                          progress=ctx.progress)  # fmt: skip
        return {"kind": "transformer", "epochs": params.epochs, "steps": result.steps}, ""
    if kind == "ensemble":
        from ratchet.models.ensemble import MEMBERS, save_ensemble

        members = sorted((model / MEMBERS).iterdir(), key=lambda p: int(p.name))
        refits = []
        for member in members:
            done, why = _refit(ctx, member, rows, labels, ctx.step_dir / "members" / member.name)
            if done is None:
                return None, why
            refits.append(done)
        save_ensemble([ctx.step_dir / "members" / m.name for m in members], out, weights=meta.get("weights"))
        return {"kind": "ensemble", "members": refits}, ""
    if kind == "routed":  # chunk's pair: the model for texts that fit and the windowed one, each refit
        from ratchet.models.routed import KEY, LONG, MEMBERS, SHORT, long_weight_of, save_routed

        parts = {}
        for name in (SHORT, LONG):
            done, why = _refit(ctx, model / MEMBERS / name, rows, labels, ctx.step_dir / "routed" / name)
            if done is None:
                return None, why
            parts[name] = done
        save_routed(ctx.step_dir / "routed" / SHORT, ctx.step_dir / "routed" / LONG, out, int(meta[KEY]["window"]),
                    long_weight_of(meta[KEY]))  # fmt: skip
        return {"kind": "routed", **parts}, ""
    return None, f"{a_model_of_kind(kind)} cannot be refit"
