"""select: pick the backbone - candidate transformers and the linear baseline, by successive halving.

Candidates are ``--model`` values, the default model and the baseline (model.baseline); in the fast
preset only the first ``--model`` (nothing is raced: select there only decides whether the few-shot
candidate faces it).
Transformers get short fine-tunes on the training split, judged on validation macro-F1;
the last rung trains with the full configured epochs, so the baseline (fully trained)
only wins against fully trained transformers. If it wins, "linear" is the backbone and
``train`` ships the baseline, unless ``search`` tunes the best transformer ("runner_up" in
model.backbone) past it. Each candidate's tokenizer coverage of the data is reported.

Few-shot data (the smallest class under ``fewshot.enter_below`` training rows, the median one under
``fewshot.median_below``) adds a SetFit-style
candidate, ``fewshot:<backbone>`` (ratchet.fewshot): contrastive tuning of the first mean-pooling
backbone on drawn pairs, then a logistic head. It has no short version to probe, so it skips the
rungs: it is fitted once, in full, on the same folds as the last rung (every fold when cross-fitted),
and faces the halving's winner on the same judged rows; ties go to the winner. If it wins,
model.backbone says so ("method": "fewshot") and ``train`` fits and ships it. It never wins against
the linear model alone when the time budget let no fine-tune be measured: the configured model goes on.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.config import TrainParams
from ratchet.fewshot.params import FewShotParams
from ratchet.fsutil import hash_json, write_json
from ratchet.step import Completed, StepContext
from ratchet.steps.select_fits import RungFits, load_fit, save_fit

LINEAR = "linear"


@dataclass(frozen=True)
class SelectStepParams:
    candidates: tuple[str, ...]
    """Backbone names or paths, in preference order for ties; "linear" is the baseline."""
    train: TrainParams = field(default_factory=TrainParams)
    """Fine-tuning parameters of every candidate; the last rung uses its epochs in full."""
    eta: int = 2
    """Each rung keeps the best 1/eta of the candidates."""
    coverage_sample: int = 500
    """Training texts tokenized per candidate for the coverage figures."""
    fewshot: FewShotParams = field(default_factory=FewShotParams)
    """When the few-shot candidate enters, and how it is fitted."""
    keep_folds: bool = False
    """Keep the fold models of each candidate's full-length, cross-fitted fit, because train will keep its own
    (for compress, or gate.ship=folds): train then reads the winner's folds back from the run's fit cache,
    models included, instead of fitting them again (on tweets in the balanced preset, 94 s of 537). The
    losers' fold models are removed when select has picked."""


class SelectStep:
    name: ClassVar[str] = "select"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ("data.folds", "data.cleaning", "model.baseline")
    provides: ClassVar[tuple[str, ...]] = ("model.backbone",)
    gated: ClassVar[bool] = False
    budget_share: ClassVar[float] = 0.2

    def __init__(self, params: SelectStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        from ratchet.fewshot.entry import decide_entry
        from ratchet.fewshot.fit import mean_pooling_backbone
        from ratchet.search.halving import successive_halving

        crossfit = ctx.crossfit
        candidates = list(dict.fromkeys(self.params.candidates))
        transformers = [name for name in candidates if name != LINEAR]
        fixed: dict[str, float] = {}
        probs: dict[str, np.ndarray] = {}
        baseline = ctx.artifacts.maybe("model.baseline")
        if LINEAR in candidates and baseline is not None:
            probs[LINEAR] = self._linear_probs(ctx, crossfit, baseline)
            fixed[LINEAR] = float(crossfit.score(probs[LINEAR]))
        elif LINEAR in candidates:
            ctx.log.info("select: no baseline step ran, so the linear model is not a candidate")

        # Rungs fit on the first fold (holdout: train -> valid); in a cross-fitted run the last rung, at full
        # length, is cross-fitted, so the final pick is judged on every pool row like the baseline it faces.
        evaluate = RungFits(ctx, crossfit, self.params.train, transformers, probs, keep_folds=self.params.keep_folds)
        fits, fits_dir, data = evaluate.fits, evaluate.fits_dir, evaluate.data
        top_epochs = self.params.train.epochs
        coverage = _coverage(ctx, transformers, data.train.texts[: self.params.coverage_sample])

        entry = decide_entry(
            self.params.fewshot, data.train.label_ids, len(crossfit.labels), transformers,
            text_pairs=data.train.pairs is not None, mean_pooling=mean_pooling_backbone,
        )  # fmt: skip
        ctx.log.info("select: few-shot candidate %s: %s", "added" if entry.name else "not added", entry.reason)
        fewshot = None
        if entry.name is not None:
            # Its share of the step's time: one full fit among the transformers' full-length fits.
            fewshot = self._fewshot(ctx, crossfit, entry.backbone, fits_dir, share=1.0 / (len(transformers) + 1))
            if fewshot is not None:
                probs[entry.name] = np.load(fits_dir / f"{fewshot['key']}.npy")
        with ctx.progress.bar("select", total=None):
            winner, rungs = successive_halving(
                transformers, fixed, evaluate, eta=self.params.eta, top_epochs=self.params.train.epochs
            )
        final: dict[str, float] = {}
        if fewshot is not None and fewshot["valid_macro_f1"] is not None:
            rival = _final_score(winner, rungs, fixed, lambda: evaluate(winner, top_epochs, 1.0))
            final = {entry.name: fewshot["valid_macro_f1"], **({winner: rival} if rival is not None else {})}
            # A few-shot fit that faced only the linear model, because no fine-tune was measured in select's time,
            # has not beaten the standard fine-tune: it does not win by default (the configured model goes on to
            # train, as below). Seen on TREC under --budget: 0.80 beat the baseline's 0.75 in select, where the
            # unmeasured fine-tune scores 0.89.
            unmeasured = winner == LINEAR and bool(transformers) and not any(fits.values())
            if not unmeasured and (rival is None or fewshot["valid_macro_f1"] > rival):
                winner = entry.name
        note = None
        raced = len(transformers) + len(fixed) > 1
        if raced and transformers and not any(fits.values()) and winner != entry.name:
            # Nothing was measured: fall back to the configured model, as a run without select would.
            winner, note = transformers[0], "the time budget ran out before any fine-tune: kept the first candidate"
            if final:
                note += " (the few-shot candidate faced no fine-tune, so it is not picked)"
        evaluate.drop_fold_models(keep=winner)
        choice = self._choice(winner, entry, transformers, rungs)
        out = ctx.step_dir / "backbone.json"
        write_json(out, choice)
        candidates = [
            {"name": name, "kind": "linear" if name == LINEAR else "transformer", "coverage": coverage.get(name),
             "fits": fits.get(name, []), **({"valid_macro_f1": fixed[name]} if name in fixed else {})}
            for name in [*fixed, *transformers]
        ]  # fmt: skip
        metrics = {
            "winner": winner,
            "runner_up": choice.get("runner_up"),
            "candidates": candidates + _fewshot_rows(entry.name, fewshot),
            "fewshot": {"entered": entry.name is not None, "reason": entry.reason, "final": final},
            "picked": _picked_line(winner, final),
            "rungs": [rung.as_dict() for rung in rungs],
            "poor_coverage": [name for name, figures in coverage.items() if figures["poor"]],
            "eta": self.params.eta,
            "note": note,
        }
        return Completed(provides={"model.backbone": out}, metrics=metrics, probs=probs.get(winner))

    def _choice(self, winner: str, entry: Any, transformers: list[str], rungs: list) -> dict[str, Any]:
        """backbone.json: the winner (the few-shot method's own record when it won), and the best transformer
        as ``runner_up`` when the linear model won."""
        choice: dict[str, Any] = {"model": winner}
        if winner == entry.name:
            choice = {"model": entry.backbone, "method": "fewshot", "fewshot": asdict(self.params.fewshot)}
        trained = [name for name in transformers if name in rungs[-1].scores] if rungs else []
        if winner == LINEAR and trained:
            # The best transformer lost with the configured parameters; search may still tune it
            # past the baseline (judged against it by the ratchet rule).
            choice["runner_up"] = max(trained, key=lambda name: rungs[-1].scores[name])
        return choice

    def _fewshot(self, ctx: StepContext, crossfit: Any, backbone: str, fits_dir: Path, share: float):
        """The few-shot candidate on the last rung's folds -> its fit record (key, score, ...), None if not run."""
        from ratchet.fewshot.crossfit import crossfit_fewshot

        params = self.params.fewshot
        key = hash_json(["fewshot", backbone, asdict(params), ctx.seed, crossfit.crossfit])[:16]
        cached = load_fit(fits_dir, key)
        if cached is None:
            started = time.time()
            # Holdout: the cache keeps the model, so that train ships this very fit if it wins.
            fit = crossfit_fewshot(crossfit, backbone, params, seed=ctx.seed, name=f"select-fewshot-{backbone}",
                                   time_share=share, keep_models=True)  # fmt: skip
            if not fit.folds:
                ctx.log.info("select: the time budget allows no few-shot fit (%s)", fit.note)
                return None
            cached = {
                "key": key,
                "folds": len(fit.folds),
                "valid_macro_f1": crossfit.score(fit.probs),
                "seconds": time.time() - started,
                "pairs": fit.folds[0].info.get("pairs"),
                "stopped_by_deadline": any(f.info.get("stopped_by_deadline") for f in fit.folds),
            }
            save_fit(fits_dir, key, cached, fit.probs)
        ctx.log.info("select: fewshot:%s -> macro-F1 %s", backbone, cached["valid_macro_f1"])
        return cached

    def _linear_probs(self, ctx: StepContext, crossfit: Any, baseline: Path) -> np.ndarray:
        """The baseline's judged probabilities: its model on the valid rows, or (cross-fitted) its folds again."""
        if not crossfit.crossfit:
            from ratchet.predictor import load_predictor

            valid = crossfit.holdout.valid
            return load_predictor(baseline).predict_probs(valid.texts, valid.pairs)
        from ratchet.steps.baseline import BaselineParams

        fit, _ = crossfit.linear(BaselineParams().linear, out_dir=None, meta={})
        return fit.probs


def _final_score(winner: str, rungs: list, fixed: dict[str, float], measure) -> float | None:
    """The halving winner's score on the last rung's rows (a lone transformer, never raced, is measured now)."""
    if rungs and winner in rungs[-1].scores:
        return float(rungs[-1].scores[winner])
    if winner in fixed:
        return float(fixed[winner])
    return measure() if winner != LINEAR else None


def _fewshot_rows(name: str | None, record: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The few-shot candidate's row of the candidates table (none when it did not enter)."""
    if name is None:
        return []
    score = {} if record is None else {"valid_macro_f1": record["valid_macro_f1"]}
    return [{"name": name, "kind": "fewshot", "fits": [] if record is None else [record], **score}]


def _picked_line(winner: str, final: dict[str, float]) -> str:
    """One line for the ledger: the pick, and the few-shot comparison when there was one."""
    if not final:
        return f"picked {winner}"
    others = ", ".join(f"{name} {score:.4f}" for name, score in final.items() if name != winner)
    mine = f"{final[winner]:.4f} macro-F1 on the judged rows" if winner in final else "not measured in select's time"
    return f"picked {winner} ({mine}; {others})"


def _coverage(ctx: StepContext, transformers: list[str], sample: list[str]) -> dict[str, dict[str, Any]]:
    """The same figures as the data report's coverage section, for every candidate; a warning where poor."""
    from ratchet.data.coverage import load_tokenizer, tokenizer_coverage

    coverage = {name: tokenizer_coverage(load_tokenizer(name), sample) for name in transformers}
    for name, figures in coverage.items():
        if figures["poor"]:
            ctx.log.warning(
                "select: the tokenizer of %s covers this data poorly (%.1f%% of words unknown)",
                name, 100 * figures["unk_share_words"],
            )  # fmt: skip
    return coverage
