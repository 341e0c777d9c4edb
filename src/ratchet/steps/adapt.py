"""adapt (gated): continued pretraining on in-domain text (+ vocabulary extension), kept only if it helps.

The step adapts the backbone, then measures both sides of the comparison itself:
a short fine-tune from the adapted checkpoint (the candidate) and the same
fine-tune, same seed and budget, from the original backbone (the reference).
The pipeline's ratchet rule compares the two on validation; when it keeps the
candidate, ``model.backbone`` points at the adapted checkpoint (extended
tokenizer included) and ``train`` fine-tunes from there.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ratchet.adaptation.corpus import unlabeled_sha256
from ratchet.artifacts import ArtifactView
from ratchet.config import AdaptParams, CleanParams, TrainParams
from ratchet.fsutil import read_json, write_json
from ratchet.models.recipe_meta import KEY, recipe
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.train import resolved_backbone, resolved_train_params
from ratchet.training.schedule import with_epochs

MIN_CORPUS = 20
"""Fewer texts than this teach a language model nothing measurable."""
MAX_CURVE_POINTS = 200


@dataclass(frozen=True)
class AdaptStepParams:
    model: str
    """Backbone adapted when no earlier step (select) provided model.backbone."""
    adapt: AdaptParams = field(default_factory=AdaptParams)
    train: TrainParams = field(default_factory=TrainParams)
    """Fine-tuning settings of the two probes (epochs replaced by adapt.probe_epochs)."""
    clean: CleanParams = field(default_factory=CleanParams)
    """Normalization applied to the unlabeled corpus, the same as the labeled data got."""
    unlabeled_sha256: str | None = None
    """Content hash of adapt.unlabeled (filled in when not given), so --resume reruns when the file changed."""

    def __post_init__(self) -> None:
        path = self.adapt.unlabeled
        if self.unlabeled_sha256 is None:
            object.__setattr__(self, "unlabeled_sha256", unlabeled_sha256(path))


class AdaptStep:
    name: ClassVar[str] = "adapt"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "data.cleaning", "data.test_fingerprints", "model.backbone", "train.params",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.backbone", "model.current")
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.3

    def __init__(self, params: AdaptStepParams) -> None:
        self.params = params

    def foreseen_skip(self, artifacts: ArtifactView) -> str | None:
        """For the budget plan: cross-fitted, the corpus holds the unlabeled texts alone (every labeled text is
        some fold's held-out row), so without --unlabeled there is nothing to adapt on."""
        from ratchet.crossfit.folds import crossfitted

        if self.params.adapt.unlabeled or not crossfitted(artifacts.maybe("data.folds")):
            return None
        return "cross-fitted, without an unlabeled corpus"

    def run(self, ctx: StepContext) -> Outcome:
        from transformers import AutoConfig

        from ratchet.adaptation.corpus import split_heldout
        from ratchet.adaptation.mlm import choose_objective
        from ratchet.fewshot.shipping import picked_fewshot
        from ratchet.models.source import resolve_model_path

        p = self.params

        if picked_fewshot(ctx.artifacts.maybe("model.backbone")) is not None:
            # Its probes are standard fine-tunes, and the adapted backbone it provides would drop the pick.
            return Skipped("select picked the few-shot candidate: adapt is judged with standard fine-tunes")
        backbone = resolved_backbone(ctx, p.model)
        if backbone == "linear":
            return Skipped("the selected model is the linear baseline: there is no encoder to adapt")
        original = resolve_model_path(backbone)
        objective, why = choose_objective(AutoConfig.from_pretrained(original))
        if objective is None:
            return Skipped(why)
        train = ctx.task_data().train
        crossfit = ctx.crossfit
        corpus = self._corpus(ctx)
        if len(corpus.texts) < MIN_CORPUS:
            why = " (cross-fitted judging keeps the labeled texts out of it)" if crossfit.crossfit else ""
            return Skipped(f"only {len(corpus.texts)} texts to adapt on{why} (need {MIN_CORPUS}): pass --unlabeled")
        texts, heldout = split_heldout(corpus.texts, ctx.seed)
        metrics: dict[str, Any] = {"backbone": backbone, "objective": objective, "corpus": corpus.stats}
        adapted_dir = ctx.step_dir / "adapted"
        self._adapt(ctx, original, objective, texts, heldout, adapted_dir, metrics)

        train_params = resolved_train_params(ctx, p.train)
        probe_params = with_epochs(train_params, p.adapt.probe_epochs or train_params.epochs)
        model_dir = ctx.step_dir / "model"
        adapted = str(adapted_dir.resolve())
        meta = {"kind": "transformer", "backbone": adapted, "max_length": probe_params.max_length,
                "text_pair": train.pairs is not None, KEY: recipe(adapted, probe_params, ctx.seed)}  # fmt: skip
        # Both probes: the same recipe, seed (so the same fresh head) and share of the time.
        candidate = crossfit.transformer(
            adapted, probe_params, seed=ctx.seed, name="probe-adapted", holdout_model_dir=model_dir, meta=meta,
            time_share=0.5,
        )  # fmt: skip
        reference = crossfit.transformer(original, probe_params, seed=ctx.seed, name="probe-original")
        if not candidate.folds or not reference.folds:
            return Skipped(f"the probes do not fit the time budget: {candidate.note or reference.note}", metrics)
        metrics["probe"] = {
            "epochs": probe_params.epochs, "adapted": _probe_summary(crossfit, candidate),
            "original": _probe_summary(crossfit, reference),
        }  # fmt: skip
        metrics["crossfit"] = candidate.summary()

        backbone_file = ctx.step_dir / "backbone.json"
        write_json(backbone_file, {"model": adapted})
        provides = {"model.backbone": backbone_file}

        def ship() -> dict[str, Path]:
            if crossfit.crossfit:
                refit = candidate.refit_params(probe_params)
                shipped = {**meta, KEY: recipe(adapted, refit, ctx.seed)}
                crossfit.refit_transformer(adapted, refit, seed=ctx.seed, out_dir=model_dir, meta=shipped)
                metrics["shipped"] = f"the adapted probe refit on all {len(crossfit.pool)} train+valid rows"
            return {"model.current": model_dir}

        return Candidate(
            probs=candidate.probs, provides=provides, metrics=metrics, reference=reference.probs,
            reference_name="the same fine-tune from the original backbone", ship=ship,
        )  # fmt: skip

    def _corpus(self, ctx: StepContext) -> Any:
        """The pretraining corpus: training texts (holdout only) and --unlabeled texts, with every text of the
        sealed test and of the judged rows taken out."""
        from ratchet.adaptation.corpus import build_corpus
        from ratchet.data.split import text_fingerprint

        data, p = ctx.task_data(), self.params
        fingerprints_path = ctx.artifacts.maybe("data.test_fingerprints")
        held_out = data.valid.texts + (data.valid.pairs or [])
        labeled = data.train.texts + (data.train.pairs or [])
        if ctx.crossfit.crossfit:
            # Every labeled text is some fold's held-out row: none may reach the corpus the folds' probes
            # start from, so cross-fitted adaptation learns from the unlabeled texts alone.
            held_out, labeled = held_out + labeled, []
        return build_corpus(
            labeled,
            _unlabeled(p.adapt),
            test_fingerprints=read_json(fingerprints_path) if fingerprints_path else (),
            exclude_fingerprints=[text_fingerprint(t) for t in held_out],
            clean=p.clean,
            max_rows=p.adapt.max_corpus_rows,
            seed=ctx.seed,
        )

    def _adapt(self, ctx: StepContext, original: str, objective: str, texts: list[str], heldout: list[str],
               adapted_dir: Path, metrics: dict[str, Any]) -> None:  # fmt: skip
        """Vocabulary extension + pretraining -> ``adapted_dir``; a finished folder is reused on --resume."""
        from ratchet.adaptation.mlm import load_lm, pretrain, save_backbone
        from ratchet.adaptation.vocab import extend_vocabulary, measure_coverage, plan_extension

        done = ctx.step_dir / "adapt_metrics.json"
        if done.is_file() and adapted_dir.is_dir():
            metrics.update(read_json(done))
            return
        p = self.params.adapt
        started = time.time()
        left = ctx.time_left()
        deadline = None if left is None else time.time() + max(0.0, left) * p.pretrain_share
        loaded: dict[str, Any] = {}
        model, tokenizer = load_lm(original, objective, report=loaded)
        before = measure_coverage(tokenizer, texts)
        extension: dict[str, Any] = {"tokens_added": 0}
        if p.extend_vocab and before.coverage < p.min_coverage:
            tokens = plan_extension(before, max_new=p.max_new_tokens, min_count=p.min_token_count)
            corpus = texts if p.new_token_init == "cooccurrence" else None
            extension = extend_vocabulary(model, tokenizer, tokens, seed=ctx.seed, corpus=corpus)
            extension["examples"] = tokens[:20]
        after = measure_coverage(tokenizer, texts) if extension["tokens_added"] else before
        ctx.log.info("adapt: coverage %.3f -> %.3f, %d tokens added", before.coverage, after.coverage,
                     extension["tokens_added"])  # fmt: skip
        result = pretrain(
            model, tokenizer, texts, heldout, objective=objective, params=p, device=ctx.device, seed=ctx.seed,
            checkpoint_dir=ctx.step_dir / "pretrain", deadline=deadline, progress=ctx.progress,
        )  # fmt: skip
        save_backbone(model, tokenizer, original, adapted_dir)
        found = {
            "coverage_before": before.summary(),
            "coverage_after": after.summary(),
            "vocab": extension,
            "pretrain": {**dataclasses.asdict(result), **loaded, "loss_curve": _thin(result.loss_curve),
                         "texts": len(texts), "heldout_texts": len(heldout),
                         "seconds_with_setup": time.time() - started},
        }  # fmt: skip
        write_json(done, found)
        shutil.rmtree(ctx.step_dir / "pretrain", ignore_errors=True)  # adapted/ + the marker resume from here on
        metrics.update(found)


def _probe_summary(crossfit, fit) -> dict[str, Any]:
    folds = fit.folds
    return {
        "valid_macro_f1": crossfit.score(fit.probs),
        "folds": len(folds),
        "seconds": sum(f.seconds for f in folds),
        "reused_fit": all(f.reused for f in folds) if folds else False,
        "stopped_by_deadline": any(f.info.get("stopped_by_deadline") for f in folds),
    }


def _unlabeled(params: AdaptParams) -> list[str]:
    if not params.unlabeled:
        return []
    from ratchet.data.io import read_unlabeled_texts

    return read_unlabeled_texts(params.unlabeled)


def _thin(curve: list[dict[str, float]]) -> list[dict[str, float]]:
    """At most MAX_CURVE_POINTS points for the manifest (every k-th, the last one always)."""
    if len(curve) <= MAX_CURVE_POINTS:
        return curve
    k = -(-len(curve) // MAX_CURVE_POINTS)
    return curve[::k] + ([curve[-1]] if (len(curve) - 1) % k else [])
