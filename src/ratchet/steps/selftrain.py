"""selftrain (gated): the shipped model labels the unlabeled corpus; a student learns from gold + confident labels.

Self-training is the second use of ``--unlabeled`` (``adapt`` pretrains on it; this
step learns the task from it). The teacher is whatever ``model.current`` is when the
step runs, a seed ensemble included. Its confident predictions on the unlabeled texts
(test copies, validation and training texts removed first, as for ``adapt``) join
the gold training rows, capped per class (see ``ratchet.adaptation.pseudo_labels``); a
student fine-tuned from the backbone on them is kept only if the ratchet rule prefers it
to the teacher on validation, whose labels no pseudo-label ever touches.

It is in no preset: on Chinese reviews (benchmarks/chinese_adaptation.py --selftrain) the
student moved the sealed test by +0.020 to -0.028 over five seeds, -0.005 on average.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.adaptation.corpus import unlabeled_sha256
from ratchet.config import CleanParams, GateParams, SelfTrainParams, TrainParams
from ratchet.data.frames import Split, read_labels, read_split
from ratchet.fsutil import read_json
from ratchet.pipeline import StepContext, StepResult
from ratchet.steps.train import resolved_backbone, resolved_train_params

MIN_PSEUDO = 10
"""Fewer confident pseudo-labels than this cannot change a student measurably: the step skips."""


@dataclass(frozen=True)
class SelfTrainStepParams:
    model: str
    """Backbone the student starts from when no earlier step (select, adapt) provided model.backbone."""
    unlabeled: str | None = None
    """The unlabeled corpus (the run's --unlabeled, shared with adapt)."""
    selftrain: SelfTrainParams = field(default_factory=SelfTrainParams)
    train: TrainParams = field(default_factory=TrainParams)
    """The student's fine-tuning settings (epochs replaced by selftrain.epochs); search's, when it ran."""
    clean: CleanParams = field(default_factory=CleanParams)
    """Normalization applied to the unlabeled corpus, the same as the labeled data got."""
    seeds: int = 1
    """Student seeds (selftrain.seeds, by default as many as train's)."""
    ensemble: bool = False
    """Ship the students' averaged probabilities if the rule (``gate``) prefers them to the first student."""
    gate: GateParams = field(default_factory=GateParams)
    unlabeled_sha256: str | None = None
    """Content hash of the unlabeled file (filled in), so --resume reruns when the file changed."""

    def __post_init__(self) -> None:
        if self.unlabeled_sha256 is None:
            object.__setattr__(self, "unlabeled_sha256", unlabeled_sha256(self.unlabeled))


class SelfTrainStep:
    name: ClassVar[str] = "selftrain"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = ("data.test_fingerprints", "model.backbone", "train.params", "model.current")
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.3

    def __init__(self, params: SelfTrainStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> StepResult:
        from ratchet.adaptation.pseudo_labels import choose_pseudo_labels
        from ratchet.predictor import load_predictor
        from ratchet.search.ensemble import seed_deadline
        from ratchet.search.finetune import TaskData, finetune

        p = self.params
        teacher_dir = ctx.artifacts.maybe("model.current")
        backbone = resolved_backbone(ctx, p.model)
        train, valid = read_split(ctx.artifacts.get("data.train")), read_split(ctx.artifacts.get("data.valid"))
        why_not = _why_not(p, teacher_dir, backbone, train)
        if why_not:
            return StepResult(skipped=why_not)
        started = time.time()
        texts, corpus_stats = _unlabeled_texts(ctx, p, train, valid)
        teacher = load_predictor(Path(teacher_dir), device=ctx.device)
        probs = teacher.predict_probs(texts)
        labeling_seconds = time.time() - started
        chosen = choose_pseudo_labels(probs, train.label_ids, threshold=p.selftrain.threshold,
                                      max_ratio=p.selftrain.max_ratio)  # fmt: skip
        labels = read_labels(ctx.artifacts.get("data.labels"))
        per_class = {str(labels[k]): counts for k, counts in chosen.stats["per_class"].items()}
        metrics: dict[str, Any] = {
            "teacher": str(teacher_dir),
            "backbone": backbone,
            "corpus": corpus_stats,
            "pseudo_labels": {**chosen.stats, "per_class": per_class},
            "labeling_seconds": labeling_seconds,
        }
        if len(chosen.rows) < MIN_PSEUDO:
            return StepResult(skipped=f"only {len(chosen.rows)} unlabeled texts reached teacher confidence "
                              f"{p.selftrain.threshold} (need {MIN_PSEUDO}): lower selftrain.threshold")  # fmt: skip
        _save_pseudo_labels(ctx.step_dir / "pseudo_labels.parquet", texts, chosen, labels)
        student_rows = _with_pseudo_labels(train, [texts[i] for i in chosen.rows], chosen.label_ids, p.selftrain.weight)
        params = dataclasses.replace(resolved_train_params(ctx, p.train), epochs=p.selftrain.epochs)
        ctx.log.info("selftrain: %d pseudo-labels (of %d texts) + %d gold rows -> student from %s",
                     len(chosen.rows), len(texts), len(train), backbone)  # fmt: skip
        model_dir = ctx.step_dir / "model"
        meta = {"kind": "transformer", "backbone": backbone, "max_length": params.max_length, "text_pair": False}
        data = TaskData(student_rows, valid, labels)  # shared by the student seeds: tokenized once
        fitted = finetune(
            backbone, data, params, device=ctx.device, seed=ctx.seed, checkpoint_dir=ctx.step_dir / "checkpoint",
            deadline=seed_deadline(ctx.deadline, p.seeds, time.time()), save_to=model_dir, save_meta=meta,
            progress=ctx.progress,
        )  # fmt: skip
        metrics["best_valid_macro_f1"] = fitted.best_score
        metrics["student"] = {
            "rows": len(student_rows),
            "train_params": dataclasses.asdict(params),
            "best_valid_macro_f1": fitted.best_score,
            "steps": fitted.steps,
            "stopped_by_deadline": fitted.stopped_by_deadline,
            "history": fitted.history,
            "telemetry": fitted.telemetry,
        }
        # No reference_probs: the rule judges the student against the incumbent, i.e. the teacher.
        result = StepResult(provides={"model.current": model_dir}, metrics=metrics, valid_probs=fitted.valid_probs)
        if p.seeds > 1:
            from ratchet.search.ensemble import finish_seeds

            result = finish_seeds(
                ctx, result, backbone=backbone, params=params, data=data, meta=meta,
                n_seeds=p.seeds, ensemble=p.ensemble, gate=p.gate,
            )  # fmt: skip
        metrics["seconds"] = time.time() - started
        return result


def _why_not(p: SelfTrainStepParams, teacher_dir: Path | None, backbone: str, train: Split) -> str | None:
    """Why self-training cannot run here (None: it can)."""
    if not p.unlabeled:
        return "no unlabeled corpus to pseudo-label: pass --unlabeled FILE"
    if teacher_dir is None:
        return "no model to teach the student yet: run train before selftrain"
    if backbone == "linear":
        return "the selected model is the linear baseline: there is no encoder to train a student from"
    if train.pairs is not None:
        return "the task classifies text pairs; an unlabeled corpus of single texts cannot be pseudo-labeled for it"
    return None


def _unlabeled_texts(ctx: StepContext, p: SelfTrainStepParams, train: Split, valid: Split) -> tuple[list[str], dict]:
    """The unlabeled texts minus test copies, validation and training texts (as adapt builds its corpus)."""
    from ratchet.adaptation.corpus import build_corpus
    from ratchet.data.io import read_unlabeled_texts
    from ratchet.data.split import text_fingerprint

    fingerprints_path = ctx.artifacts.maybe("data.test_fingerprints")
    corpus = build_corpus(
        train.texts,  # listed first, so an unlabeled copy of a training text counts as a duplicate and goes
        read_unlabeled_texts(p.unlabeled),
        test_fingerprints=read_json(fingerprints_path) if fingerprints_path else (),
        exclude_fingerprints=[text_fingerprint(t) for t in valid.texts],
        clean=p.clean,
        max_rows=len(train.texts) + p.selftrain.max_unlabeled,
        seed=ctx.seed,
    )
    return corpus.texts[corpus.stats["from_train"] :], corpus.stats


def _with_pseudo_labels(train: Split, texts: list[str], label_ids: np.ndarray, weight: float) -> Split:
    gold_weights = train.weights if train.weights is not None else np.ones(len(train), dtype=np.float32)
    weights = np.concatenate([gold_weights, np.full(len(texts), weight, dtype=np.float32)])
    return Split(
        texts=train.texts + texts,
        pairs=None,
        label_ids=np.concatenate([train.label_ids, label_ids]).astype(np.int64),
        weights=None if np.all(weights == 1.0) else weights,
    )


def _save_pseudo_labels(path: Path, texts: list[str], chosen, labels: list) -> None:
    """What the student learned from, for audit: text, pseudo-label and the teacher's confidence."""
    import pandas as pd

    frame = pd.DataFrame({
        "text": [texts[i] for i in chosen.rows],
        "label": [str(labels[k]) for k in chosen.label_ids],
        "confidence": chosen.confidence.astype(np.float32),
    })  # fmt: skip
    frame.to_parquet(path, index=False)
