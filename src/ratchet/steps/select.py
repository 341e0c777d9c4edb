"""select: pick the backbone - candidate transformers and the linear baseline, by successive halving.

Candidates are ``--model`` values, the default model and the baseline (model.baseline).
Transformers get short fine-tunes on the training split, judged on validation macro-F1;
the last rung trains with the full configured epochs, so the baseline (fully trained)
only wins against fully trained transformers. If it wins, "linear" is the backbone and
``train`` ships the baseline, unless ``search`` tunes the best transformer ("runner_up" in
model.backbone) past it. Each candidate's tokenizer coverage of the data is reported.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.config import TrainParams
from ratchet.fsutil import hash_json, read_json, write_json
from ratchet.step import Completed, StepContext
from ratchet.training.plan import TooLittleTime

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
        from ratchet.data.coverage import load_tokenizer, tokenizer_coverage
        from ratchet.search.finetune import finetune
        from ratchet.search.halving import successive_halving

        crossfit = ctx.crossfit
        # Rungs fit on the first fold (holdout: train -> valid); in a cross-fitted run the last rung, at full
        # length, is cross-fitted, so the final pick is judged on every pool row like the baseline it faces.
        first = next(crossfit.plan.splits())
        data = crossfit.fold_data(first)
        positions = crossfit.plan.positions(first)
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

        # The same figures as the data report's coverage section, for every candidate.
        sample = data.train.texts[: self.params.coverage_sample]
        coverage = {name: tokenizer_coverage(load_tokenizer(name), sample) for name in transformers}
        for name, figures in coverage.items():
            if figures["poor"]:
                ctx.log.warning(
                    "select: the tokenizer of %s covers this data poorly (%.1f%% of words unknown)",
                    name, 100 * figures["unk_share_words"],
                )  # fmt: skip

        fits: dict[str, list[dict[str, Any]]] = {name: [] for name in transformers}
        fits_dir = ctx.step_dir / "fits"
        top_epochs = self.params.train.epochs

        def evaluate(name: str, epochs: float, share: float) -> float | None:
            left = ctx.time_left()
            if left is not None and left <= 0:
                return None  # out of time: rank by the scores so far
            params = _with_epochs(self.params.train, epochs)
            every_fold = crossfit.crossfit and epochs >= top_epochs
            key = hash_json([name, asdict(params), ctx.seed, every_fold])[:16]
            cached = _load_fit(fits_dir, key)
            if cached is None:
                started = time.time()
                judged = crossfit.empty()
                if every_fold:
                    # The configured parameters at full length: exactly train's folds, which the fit cache keeps.
                    fit = crossfit.transformer(name, params, seed=ctx.seed, name=f"select-{name}", time_share=share,
                                               refit_reserve=False)  # fmt: skip
                    if not fit.folds:
                        return None  # the time budget allows no fold: rank by the scores so far
                    judged, stopped = fit.probs, any(f.info.get("stopped_by_deadline") for f in fit.folds)
                else:
                    deadline = None if left is None else time.time() + max(left, 0.0) * share
                    try:
                        result = finetune(
                            name, data, params, device=ctx.device, seed=ctx.seed,
                            checkpoint_dir=fits_dir / f"{key}-checkpoint", deadline=deadline, cache=ctx.fit_cache,
                            select_best=not crossfit.crossfit,
                        )  # fmt: skip
                    except TooLittleTime:
                        return None
                    judged[positions], stopped = result.valid_probs, result.stopped_by_deadline
                cached = {
                    "epochs": epochs,
                    "folds": crossfit.plan.k if every_fold else 1,
                    "valid_macro_f1": crossfit.score(judged),
                    "seconds": time.time() - started,
                    "stopped_by_deadline": stopped,
                }
                _save_fit(fits_dir, key, cached, judged)
            fits[name].append(cached)
            probs[name] = np.load(fits_dir / f"{key}.npy")
            ctx.log.info("select: %s, %.2f epochs -> macro-F1 %.4f", name, epochs, cached["valid_macro_f1"])
            return float(cached["valid_macro_f1"])

        with ctx.progress.bar("select", total=None):
            winner, rungs = successive_halving(
                transformers, fixed, evaluate, eta=self.params.eta, top_epochs=self.params.train.epochs
            )
        note = None
        if transformers and not any(fits.values()):
            # Nothing was measured: fall back to the configured model, as a run without select would.
            winner, note = transformers[0], "the time budget ran out before any fine-tune: kept the first candidate"
        choice: dict[str, Any] = {"model": winner}
        trained = [name for name in transformers if name in rungs[-1].scores] if rungs else []
        if winner == LINEAR and trained:
            # The best transformer lost with the configured parameters; search may still tune it
            # past the baseline (judged against it by the ratchet rule).
            choice["runner_up"] = max(trained, key=lambda name: rungs[-1].scores[name])
        out = ctx.step_dir / "backbone.json"
        write_json(out, choice)
        metrics = {
            "winner": winner,
            "runner_up": choice.get("runner_up"),
            "candidates": [
                {
                    "name": name,
                    "kind": "linear" if name == LINEAR else "transformer",
                    "coverage": coverage.get(name),
                    "fits": fits.get(name, []),
                    **({"valid_macro_f1": fixed[name]} if name in fixed else {}),
                }
                for name in [*fixed, *transformers]
            ],
            "rungs": [rung.as_dict() for rung in rungs],
            "poor_coverage": [name for name, figures in coverage.items() if figures["poor"]],
            "eta": self.params.eta,
            "note": note,
        }
        return Completed(provides={"model.backbone": out}, metrics=metrics, probs=probs.get(winner))

    def _linear_probs(self, ctx: StepContext, crossfit: Any, baseline: Path) -> np.ndarray:
        """The baseline's judged probabilities: its model on the valid rows, or (cross-fitted) its folds again."""
        if not crossfit.crossfit:
            from ratchet.predictor import load_predictor

            valid = crossfit.holdout.valid
            return load_predictor(baseline).predict_probs(valid.texts, valid.pairs)
        from ratchet.steps.baseline import BaselineParams

        fit, _ = crossfit.linear(BaselineParams().linear, out_dir=None, meta={})
        return fit.probs


def _with_epochs(params: TrainParams, epochs: float) -> TrainParams:
    from dataclasses import replace

    return replace(params, epochs=float(epochs))


def _load_fit(fits_dir, key: str) -> dict[str, Any] | None:
    """A fine-tune finished before an interruption is not repeated on --resume."""
    record, array = fits_dir / f"{key}.json", fits_dir / f"{key}.npy"
    return read_json(record) if record.is_file() and array.is_file() else None


def _save_fit(fits_dir, key: str, record: dict[str, Any], probs: np.ndarray) -> None:
    from ratchet.search.finetune import save_array

    # Probabilities first, then the record: the record's presence means both are complete.
    save_array(fits_dir / f"{key}.npy", probs)
    write_json(fits_dir / f"{key}.json", record)
