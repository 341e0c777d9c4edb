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
from typing import Any, ClassVar

import numpy as np

from ratchet.config import TrainParams
from ratchet.data.frames import read_labels, read_split
from ratchet.fsutil import hash_json, read_json, write_json
from ratchet.pipeline import StepContext, StepResult

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
    optional: ClassVar[tuple[str, ...]] = ("model.baseline",)
    provides: ClassVar[tuple[str, ...]] = ("model.backbone",)
    gated: ClassVar[bool] = False
    budget_share: ClassVar[float] = 0.2

    def __init__(self, params: SelectStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> StepResult:
        from ratchet.data.coverage import load_tokenizer, tokenizer_coverage
        from ratchet.evaluation.metrics import score
        from ratchet.search.finetune import TaskData, finetune
        from ratchet.search.halving import successive_halving

        data = TaskData(
            train=read_split(ctx.artifacts.get("data.train")),
            valid=read_split(ctx.artifacts.get("data.valid")),
            labels=read_labels(ctx.artifacts.get("data.labels")),
        )
        candidates = list(dict.fromkeys(self.params.candidates))
        transformers = [name for name in candidates if name != LINEAR]
        fixed: dict[str, float] = {}
        probs: dict[str, np.ndarray] = {}
        baseline = ctx.artifacts.maybe("model.baseline")
        if LINEAR in candidates and baseline is not None:
            probs[LINEAR] = _baseline_probs(baseline, data)
            fixed[LINEAR] = float(score("macro_f1", data.valid.label_ids, probs[LINEAR]))
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
        # The full-length fit of the configured parameters is what search's reference trial and
        # train's first seed would repeat: the run's fit cache hands it (and its model) on to them.
        from ratchet.search.fitcache import FitCache

        shared = FitCache.for_run(
            ctx.run_dir, ctx.artifacts.get("data.train"), ctx.artifacts.get("data.valid"), ctx.device,
            self.params.train,
        )  # fmt: skip

        def evaluate(name: str, epochs: float, share: float) -> float | None:
            left = ctx.time_left()
            if left is not None and left <= 0:
                return None  # out of time: rank by the scores so far
            params = _with_epochs(self.params.train, epochs)
            key = hash_json([name, asdict(params), ctx.seed])[:16]
            cached = _load_fit(fits_dir, key)
            if cached is None:
                deadline = None if left is None else time.time() + max(left, 0.0) * share
                result = finetune(
                    name, data, params, device=ctx.device, seed=ctx.seed,
                    checkpoint_dir=fits_dir / f"{key}-checkpoint", deadline=deadline, cache=shared,
                )  # fmt: skip
                cached = {
                    "epochs": epochs,
                    "valid_macro_f1": result.best_score,
                    "steps": result.steps,
                    "seconds": result.seconds,
                    "stopped_by_deadline": result.stopped_by_deadline,
                }
                _save_fit(fits_dir, key, cached, result.valid_probs)
            fits[name].append(cached)
            probs[name] = np.load(fits_dir / f"{key}.npy")
            ctx.log.info("select: %s, %.2f epochs -> valid macro-F1 %.4f", name, epochs, cached["valid_macro_f1"])
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
        return StepResult(provides={"model.backbone": out}, metrics=metrics, valid_probs=probs.get(winner))


def _with_epochs(params: TrainParams, epochs: float) -> TrainParams:
    from dataclasses import replace

    return replace(params, epochs=float(epochs))


def _baseline_probs(model_dir, data) -> np.ndarray:
    from ratchet.predictor import load_predictor

    return load_predictor(model_dir).predict_probs(data.valid.texts, data.valid.pairs)


def _load_fit(fits_dir, key: str) -> dict[str, Any] | None:
    """A fine-tune finished before an interruption is not repeated on --resume."""
    record, array = fits_dir / f"{key}.json", fits_dir / f"{key}.npy"
    return read_json(record) if record.is_file() and array.is_file() else None


def _save_fit(fits_dir, key: str, record: dict[str, Any], probs: np.ndarray) -> None:
    from ratchet.search.finetune import save_array

    # Probabilities first, then the record: the record's presence means both are complete.
    save_array(fits_dir / f"{key}.npy", probs)
    write_json(fits_dir / f"{key}.json", record)
