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

from ratchet.adaptation.corpus import unlabeled_corpus, unlabeled_sha256
from ratchet.artifacts import ArtifactView
from ratchet.config import CleanParams, SelfTrainParams, TrainParams
from ratchet.crossfit.results import FoldFit
from ratchet.crossfit.service import REFIT_COST
from ratchet.data.frames import Split
from ratchet.finetuning.finetune import TaskData
from ratchet.models.ensemble import average_probs
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.train import resolved_backbone, resolved_train_params
from ratchet.training.schedule import with_epochs

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
    """Student seeds (selftrain.seeds, by default as many as the ensemble step's); several ship as an ensemble,
    judged as one candidate against the teacher."""
    unlabeled_sha256: str | None = None
    """Content hash of the unlabeled file (filled in), so --resume reruns when the file changed."""

    def __post_init__(self) -> None:
        if self.unlabeled_sha256 is None:
            object.__setattr__(self, "unlabeled_sha256", unlabeled_sha256(self.unlabeled))


class SelfTrainStep:
    name: ClassVar[str] = "selftrain"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "data.cleaning", "data.test_fingerprints", "model.backbone", "train.params", "model.current",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.3

    def __init__(self, params: SelfTrainStepParams) -> None:
        self.params = params

    def foreseen_skip(self, artifacts: ArtifactView) -> str | None:
        """For the budget plan: without an unlabeled corpus there is nothing to pseudo-label."""
        return None if self.params.unlabeled else "no unlabeled corpus"

    def run(self, ctx: StepContext) -> Outcome:
        p = self.params
        teacher_dir = ctx.artifacts.maybe("model.current")
        backbone = resolved_backbone(ctx, p.model)
        data = ctx.task_data()
        why_not = _why_not(p, teacher_dir, backbone, data.train)
        if why_not:
            return Skipped(why_not)
        texts, corpus_stats = unlabeled_corpus(
            p.unlabeled,
            data.train.texts,
            data.valid.texts,
            clean=p.clean,
            max_unlabeled=p.selftrain.max_unlabeled,
            test_fingerprints_file=ctx.artifacts.maybe("data.test_fingerprints"),
            seed=ctx.seed,
        )
        params = with_epochs(resolved_train_params(ctx, p.train), p.selftrain.epochs)
        training = _SelfTraining(
            ctx, p, Path(teacher_dir), backbone, texts, data.labels, params,
            meta={"kind": "transformer", "backbone": backbone, "max_length": params.max_length, "text_pair": False},
            seeds=[ctx.seed + i for i in range(p.seeds)],
            metrics={"teacher": str(teacher_dir), "backbone": backbone, "corpus": corpus_stats},
        )  # fmt: skip
        return training.crossfitted() if ctx.crossfit.crossfit else training.holdout(data)


@dataclass
class _SelfTraining:
    """One run of the step: the teacher, the corpus and the student recipe its two ways of judging share."""

    ctx: StepContext
    p: SelfTrainStepParams
    teacher_dir: Path
    backbone: str
    texts: list[str]
    """The unlabeled corpus (never a train, valid or test text)."""
    labels: list
    params: TrainParams  # the students' fine-tune: train's, with selftrain.epochs
    meta: dict[str, Any]
    seeds: list[int]
    metrics: dict[str, Any]

    def student_dir(self, seed: int) -> Path:  # a shipped student (an ensemble member when there are several)
        return self.ctx.step_dir / "students" / f"seed-{seed}"

    def pseudo_labeled(self, teacher: Path, gold: Split, record: bool) -> tuple[Split, Any, dict[str, Any]]:
        """gold + the teacher's confident labels on the corpus (capped per class); ``record``: also the
        step metrics that describe them (returned, not written, so a fold worker's travel back), and the
        pseudo-labels' file."""
        from ratchet.adaptation.pseudo_labels import choose_pseudo_labels, save_pseudo_labels, with_pseudo_labels
        from ratchet.predictor import load_predictor

        started, labels, settings = time.time(), self.labels, self.p.selftrain
        probs = load_predictor(teacher, device=self.ctx.device).predict_probs(self.texts)
        chosen = choose_pseudo_labels(probs, gold.label_ids, threshold=settings.threshold,
                                      max_ratio=settings.max_ratio)  # fmt: skip
        recorded: dict[str, Any] = {}
        if record:
            per_class = {str(labels[k]): counts for k, counts in chosen.stats["per_class"].items()}
            recorded = {"pseudo_labels": {**chosen.stats, "per_class": per_class},
                        "labeling_seconds": time.time() - started}  # fmt: skip
            save_pseudo_labels(self.ctx.step_dir / "pseudo_labels.parquet", self.texts, chosen, labels)
        rows = [self.texts[i] for i in chosen.rows]
        return with_pseudo_labels(gold, rows, chosen.label_ids, settings.weight), chosen, recorded

    def holdout(self, data: TaskData) -> Outcome:
        """The teacher is the model that would ship, trained on the train rows only: its labels on the corpus
        carry nothing of the valid rows the students are judged on."""
        from ratchet.finetuning.finetune import finetune
        from ratchet.models.ensemble import seed_deadline

        ctx, metrics = self.ctx, self.metrics
        rows, chosen, recorded = self.pseudo_labeled(self.teacher_dir, data.train, record=True)
        metrics.update(recorded)
        if len(chosen.rows) < MIN_PSEUDO:
            return Skipped(_too_few(len(chosen.rows), self.p), metrics)
        students = []
        for i, seed in enumerate(self.seeds):
            students.append(finetune(
                self.backbone, TaskData(rows, data.valid, self.labels), self.params, device=ctx.device, seed=seed,
                checkpoint_dir=ctx.step_dir / f"checkpoint-{seed}",
                deadline=seed_deadline(ctx.deadline, len(self.seeds) - i, time.time()),
                save_to=self.student_dir(seed), save_meta=self.meta, progress=ctx.progress,
            ))  # fmt: skip
        probs = average_probs([fit.valid_probs for fit in students])
        metrics["student"] = _student_metrics(students[0], len(rows), self.params)
        member_dirs = [self.student_dir(seed) for seed in self.seeds]
        return Candidate(probs=probs, metrics=metrics, ship=lambda: _ship(ctx, member_dirs, metrics))

    def crossfitted(self) -> Outcome:
        """Each fold's teacher is fitted without that fold, so no held-out label reaches its pseudo-labels; its
        students are judged on the held-out fold like any candidate."""
        crossfit, metrics = self.ctx.crossfit, self.metrics
        # Each fold's fit: a FoldFit and files (fold 0's pseudo-label metrics travel in its info).
        fit = crossfit.run("selftrain", self.fit_fold, reserve=-REFIT_COST, parallel=True)
        for fold in fit.folds:
            metrics.update(fold.info.pop("recorded", {}))
        metrics["crossfit"] = fit.summary()
        metrics["fold_pseudo_labels"] = [f.info["pseudo_labels"] for f in fit.folds]
        return Candidate(probs=fit.probs, metrics=metrics, ship=self.ship_refit)

    def fit_fold(self, split: Any, fold: TaskData, deadline: float | None) -> FoldFit:
        from ratchet.crossfit.parallel import worker_progress
        from ratchet.finetuning.finetune import finetune

        ctx = self.ctx
        progress = worker_progress(ctx.progress)
        folder = ctx.step_dir / "fold-teachers" / f"fold-{split.fold}"
        finetune(self.backbone, fold, resolved_train_params(ctx, self.p.train), device=ctx.device, seed=ctx.seed,
                 checkpoint_dir=folder.with_name(f"checkpoint-{split.fold}"), deadline=deadline, save_to=folder,
                 save_meta=self.meta, select_best=False, progress=progress)  # fmt: skip
        rows, chosen, recorded = self.pseudo_labeled(folder, fold.train, record=split.fold == 0)
        fold_probs = []
        for seed in self.seeds:
            student = finetune(self.backbone, TaskData(rows, fold.valid, self.labels), self.params, device=ctx.device,
                               seed=seed, checkpoint_dir=ctx.step_dir / f"checkpoint-student-{split.fold}-{seed}",
                               deadline=deadline, select_best=False, progress=progress)  # fmt: skip
            fold_probs.append(student.valid_probs)
        return FoldFit(average_probs(fold_probs), info={"pseudo_labels": len(chosen.rows), "recorded": recorded})

    def ship_refit(self) -> dict[str, Path]:
        """The shipped teacher (refit on every pool row) labels the corpus for the shipped students."""
        from ratchet.finetuning.finetune import finetune

        ctx, pool = self.ctx, self.ctx.crossfit.pool
        rows, _, recorded = self.pseudo_labeled(self.teacher_dir, pool, record=True)
        self.metrics.update(recorded)
        everything = TaskData(rows, pool.subset(np.zeros(0, dtype=np.int64)), self.labels)
        member_dirs = []
        for seed in self.seeds:
            out = self.student_dir(seed)
            finetune(self.backbone, everything, self.params, device=ctx.device, seed=seed,
                     checkpoint_dir=ctx.step_dir / f"checkpoint-refit-{seed}", deadline=None, save_to=out,
                     save_meta=self.meta, select_best=False, progress=ctx.progress)  # fmt: skip
            member_dirs.append(out)
        return _ship(ctx, member_dirs, self.metrics)


def _ship(ctx: StepContext, member_dirs: list[Path], metrics: dict[str, Any]) -> dict[str, Path]:
    """One student ships as it is; several ship as an ensemble folder."""
    from ratchet.models.ensemble import save_ensemble

    if len(member_dirs) == 1:
        metrics["shipped"] = "the student"
        return {"model.current": member_dirs[0]}
    out = ctx.step_dir / "ensemble"
    save_ensemble(member_dirs, out)
    metrics["shipped"] = f"an ensemble of {len(member_dirs)} students"
    return {"model.current": out}


def _too_few(found: int, p: SelfTrainStepParams) -> str:
    return (
        f"only {found} unlabeled texts reached teacher confidence {p.selftrain.threshold} (need {MIN_PSEUDO}): "
        "lower selftrain.threshold"
    )


def _student_metrics(fitted: Any, rows: int, params: TrainParams) -> dict[str, Any]:
    return {
        "rows": rows,
        "train_params": dataclasses.asdict(params),
        "best_valid_macro_f1": fitted.best_score,
        "steps": fitted.steps,
        "stopped_by_deadline": fitted.stopped_by_deadline,
        "history": fitted.history,
        "telemetry": fitted.telemetry,
    }


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
