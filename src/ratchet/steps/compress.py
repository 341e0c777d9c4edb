"""compress (gated, non-inferiority): a lighter model ships when it is as good and really faster.

Candidates: the shipped model with int8 dynamic quantization (compress.int8), and a distilled
student (compress.student: the teacher with fewer layers, trained on its soft labels over the
training texts plus --unlabeled texts). Each is judged like every candidate, on the same rows:
holdout, a lighter version of the shipped model on the valid rows; cross-fitted, a lighter
version of each fold's model (model.folds, kept by train) on its held-out fold, so no judged
row was seen by the model it is judged through. The question is not "better?" but "not worse
by more than compress.max_drop, with the rule's confidence", and the candidate must be at least
compress.min_speedup times faster than the shipped model, both timed alike on judged texts.
Of the candidates fast enough, the one scoring higher on the judged rows is proposed; the ledger
records every candidate's size, latency p50/p95 at batch 1, throughput at batch 64 and score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ratchet.compress.params import CompressParams
from ratchet.config import CleanParams, TrainParams
from ratchet.crossfit.parallel import worker_progress
from ratchet.crossfit.results import FoldFit
from ratchet.crossfit.service import REFIT_COST
from ratchet.fsutil import read_json
from ratchet.shipping import a_model_of_kind
from ratchet.step import Candidate, Outcome, Skipped, StepContext
from ratchet.steps.train import resolved_train_params
from ratchet.training.schedule import with_epochs

SINGLES = 32
"""Texts timed one at a time (latency p50/p95)."""
REFERENCE = "reference"
"""The shipped model's name among the timed ones (a candidate is "int8" or "student")."""


@dataclass(frozen=True)
class CompressStepParams:
    compress: CompressParams = field(default_factory=CompressParams)
    train: TrainParams = field(default_factory=TrainParams)
    """The schedule the student starts from (train's, or search's when it found better)."""
    unlabeled: str | None = None
    clean: CleanParams = field(default_factory=CleanParams)
    small_data_student: bool = True
    """Distill a student where judging is cross-fitted (small data); False: only the int8 candidate there
    (presets.PRESET_STUDENTS_SMALL_DATA)."""


@dataclass
class Measured:
    name: str
    probs: np.ndarray
    folder: Path
    """A model of the candidate's kind, timed (the one that ships, or one of the same shape)."""
    ship: Any
    info: dict[str, Any]
    speed: Any = None
    """Its compress.speed.Speed once timed."""


class CompressStep:
    name: ClassVar[str] = "compress"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = (
        "data.folds", "data.cleaning", "data.test_fingerprints", "model.folds", "train.params",
    )  # fmt: skip
    provides: ClassVar[tuple[str, ...]] = ("model.current",)
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.2

    def __init__(self, params: CompressStepParams) -> None:
        self.params = params

    def input_files(self) -> dict[str, Path]:
        return {} if self.params.unlabeled is None else {"unlabeled": Path(self.params.unlabeled)}

    def run(self, ctx: StepContext) -> Outcome:
        from ratchet.compress.speed import ROUNDS, machine, measure_alike, speedup

        p = self.params.compress
        shipped = Path(ctx.artifacts.get("model.current"))
        why_not = _why_not(shipped)
        if why_not:
            return Skipped(why_not)
        crossfit = ctx.crossfit
        teachers = _fold_teachers(ctx, shipped)
        if isinstance(teachers, str):
            return Skipped(teachers)
        texts, pairs = _timed_texts(crossfit, p.speed_rows, ctx.seed)
        measured: list[Measured] = []
        if "int8" in p.candidates:
            measured.append(self._int8(ctx, shipped, teachers))
        no_student = self._no_student_on_small_data(crossfit)
        if no_student is not None:
            ctx.log.info("compress: no student: %s", no_student)
        elif "student" in p.candidates:
            student = self._student(ctx, shipped, teachers)
            if isinstance(student, str):
                ctx.log.info("compress: no student: %s", student)
            else:
                measured.append(student)
        if not measured:
            return Skipped("no candidate could be built (see the log)")
        report: dict[str, Any] = {"speed_at": p.speed_at, "machine": machine(), "timing_rounds": ROUNDS}
        if no_student is not None:
            report["student"] = {"skipped": no_student}
        speeds = measure_alike({REFERENCE: shipped, **{item.name: item.folder for item in measured}}, texts, pairs,
                               singles=SINGLES, device=ctx.device)  # fmt: skip
        reference = speeds[REFERENCE]
        for item in measured:
            item.speed = speeds[item.name]
            item.info.update(speed=item.speed.as_dict(), judged_score=crossfit.score(item.probs))
            report[item.name] = item.info
        report["reference"] = reference.as_dict()
        for item in measured:
            item.info["speedup"] = round(speedup(reference, item.speed, p.speed_at), 3)
        fast = [m for m in measured if m.info["speedup"] >= p.min_speedup]
        chosen = max(fast or measured, key=lambda m: (m.info["judged_score"] or 0.0) if fast else m.info["speedup"])
        unmet = None
        if not fast:
            unmet = (f"{chosen.name} is {chosen.info['speedup']:.2f}x as fast as the shipped model "
                     f"({p.speed_at}); compress.min_speedup is {p.min_speedup:g}")  # fmt: skip
        report["chosen"] = chosen.name
        metrics = {"compress": report}

        def ship() -> dict[str, Path]:
            out = chosen.ship()
            metrics["shipped"] = f"the {chosen.name} model ({_describe(chosen)})"
            return {"model.current": out}

        return Candidate(probs=chosen.probs, metrics=metrics, ship=ship, margin=p.max_drop, unmet=unmet,
                         reference_name="the shipped model")  # fmt: skip

    def _no_student_on_small_data(self, crossfit: Any) -> str | None:
        """Why no student is distilled: judging is cross-fitted and this compress (a preset's) leaves students out.

        On 600 labeled rows a student as good as its teacher passes the 0.005 non-inferiority margin about
        one time in three (the interval is about +/-0.03 wide), while its fold distillations take 40-45% of
        the balanced preset's wall time; ``ratchet export --quantize int8`` gives a 3-4x faster model
        without them."""
        if self.params.small_data_student or not crossfit.crossfit or "student" not in self.params.compress.candidates:
            return None
        return (
            "judging is cross-fitted (few labeled rows), where the presets distil no student: an equal student "
            "seldom passes the non-inferiority test on so few rows; name compress in --steps to distil one anyway"
        )

    # -- int8: quantize each fold's model (judged) and the shipped one (timed; ships) --------------------------
    def _int8(self, ctx: StepContext, shipped: Path, teachers: dict[int, Path]) -> Measured:
        from ratchet.compress.int8 import SCHEME, quantize_any
        from ratchet.predictor import load_predictor

        crossfit = ctx.crossfit
        root = ctx.step_dir / "int8"
        shipped_int8 = root / "model"
        quantize_any(shipped, shipped_int8)

        def fit_fold(split: Any, data: Any, deadline: float | None) -> FoldFit:
            started = time.time()
            folder = shipped_int8
            if crossfit.crossfit:
                folder = root / f"fold-{split.fold}"
                quantize_any(teachers[split.fold], folder)
            probs = load_predictor(folder, device=ctx.device).predict_probs(data.valid.texts, data.valid.pairs)
            return FoldFit(probs, time.time() - started)

        fit = crossfit.run("compress-int8", fit_fold, time_share=0.2, skip_folds=_missing(crossfit, teachers))
        info = {"scheme": SCHEME, "crossfit": fit.summary()}
        return Measured("int8", fit.probs, shipped_int8, lambda: shipped_int8, info)

    # -- student: distill each fold's model on its training texts; the shipped student from the shipped model -
    def _student(self, ctx: StepContext, shipped: Path, teachers: dict[int, Path]) -> Measured | str:
        from ratchet.compress.student import StudentPlan, distill, layer_lists, teacher_member
        from ratchet.models.load import load_classifier
        from ratchet.predictor import load_predictor

        p = self.params.compress
        crossfit = ctx.crossfit
        model, *_ = load_classifier(teacher_member(shipped))
        stacks = layer_lists(model)
        if not stacks or len(stacks[0][2]) < 2:
            return f"the {model.config.model_type} model has no layer stack of two or more layers to thin out"
        del model
        train = resolved_train_params(ctx, self.params.train)
        plan = StudentPlan(p.student_layers, p.temperature,
                           with_epochs(train, p.epochs or train.epochs))  # fmt: skip
        extra, corpus = self._unlabeled(ctx)
        root = ctx.step_dir / "student"

        def student_of(teacher: Path, rows: Any, valid: Any, fold: str, deadline: float | None) -> dict[str, Any]:
            texts = rows.texts + ([] if rows.pairs is not None else extra)
            teacher_probs = load_predictor(teacher, device=ctx.device).predict_probs(texts, rows.pairs)
            return distill(
                teacher, teacher_probs, texts, rows.pairs, (valid.texts, valid.pairs, valid.label_ids), plan,
                device=ctx.device, seed=ctx.seed, checkpoint_dir=ctx.step_dir / f"checkpoint-student-{fold}",
                deadline=deadline, progress=worker_progress(ctx.progress), select_best=not crossfit.crossfit,
                save_to=root / fold,
            )  # fmt: skip

        def fit_fold(split: Any, data: Any, deadline: float | None) -> FoldFit:
            started = time.time()
            fold = f"fold-{split.fold}" if crossfit.crossfit else "model"
            record = student_of(teachers[split.fold], data.train, data.valid, fold, deadline)
            info = {k: record[k] for k in ("layers", "teacher_layers", "steps", "stopped_by_deadline")}
            return FoldFit(record["probs"], time.time() - started, record["history"], info=info)

        # Each fold's student: a FoldFit and files, so folds may run side by side.
        fit = crossfit.run("compress-student", fit_fold, reserve=-REFIT_COST if crossfit.crossfit else 0.0,
                           skip_folds=_missing(crossfit, teachers), parallel=True)  # fmt: skip
        if not fit.folds:
            return f"no student fits the time budget: {fit.note}"
        first = fit.folds[0]
        info = {"layers": first.info["layers"], "teacher_layers": first.info["teacher_layers"],
                "temperature": p.temperature, "epochs": plan.params.epochs, "unlabeled": corpus,
                "crossfit": fit.summary()}  # fmt: skip
        timed = root / ("fold-0" if crossfit.crossfit else "model")

        def ship() -> Path:
            if not crossfit.crossfit:
                return timed
            # The shipped teacher (refit on every pool row) labels every pool text for the shipped student.
            empty = crossfit.pool.subset(np.zeros(0, dtype=np.int64))
            record = student_of(shipped, crossfit.refit_rows(), empty, "model", None)
            info["refit_steps"] = record["steps"]
            return root / "model"

        return Measured("student", fit.probs, timed, ship, info)

    def _unlabeled(self, ctx: StepContext) -> tuple[list[str], dict[str, Any]]:
        """Up to compress.max_unlabeled texts of --unlabeled (never a train, valid or test text)."""
        if self.params.unlabeled is None or self.params.compress.max_unlabeled == 0:
            return [], {"rows": 0}
        from ratchet.adaptation.corpus import unlabeled_corpus

        data = ctx.task_data()
        texts, stats = unlabeled_corpus(
            self.params.unlabeled, data.train.texts, data.valid.texts, clean=self.params.clean,
            max_unlabeled=self.params.compress.max_unlabeled,
            test_fingerprints_file=ctx.artifacts.maybe("data.test_fingerprints"), seed=ctx.seed,
        )  # fmt: skip
        # build_corpus's own "rows" counts the training texts too: the student's extra rows are these texts.
        return texts, {**{k: v for k, v in stats.items() if isinstance(v, int)}, "rows": len(texts)}


def _why_not(shipped: Path) -> str | None:
    """Why compress cannot apply to the shipped model (None: it can)."""
    from ratchet.models.ensemble import MEMBERS

    kind = read_json(shipped / "ratchet.json").get("kind")
    if kind == "ensemble":
        kinds = {read_json(m / "ratchet.json").get("kind") for m in (shipped / MEMBERS).iterdir()}
        if "transformer" not in kinds:
            return "the shipped ensemble has no fine-tuned transformer to compress"
        return None
    if kind != "transformer":
        return f"the shipped model is {a_model_of_kind(kind)}: there is no fine-tuned transformer to compress"
    if "windowing" in read_json(shipped / "ratchet.json"):
        return "the shipped model reads texts in windows (chunk): compress does not judge windowed models yet"
    return None


def _fold_teachers(ctx: StepContext, shipped: Path) -> dict[int, Path] | str:
    """The model each fold's held-out rows are judged through: the shipped one (holdout), or model.folds."""
    crossfit = ctx.crossfit
    if not crossfit.crossfit:
        return {split.fold: shipped for split in crossfit.plan.splits()}
    folds = ctx.artifacts.maybe("model.folds")
    record = read_json(Path(folds) / "folds.json") if folds is not None else {}
    if folds is None or (Path(folds) / record.get("model", "")).resolve() != shipped.resolve():
        return (
            "cross-fitted judging needs the fold models of the shipped model, and it has none (they are kept "
            "by train when the recipe has compress, not by the later steps that replaced it)"
        )
    if not record.get("folds"):
        return "no fold model of the shipped model was kept (the time budget ran none to the end)"
    return {int(i): Path(folds) / f"fold-{i}" for i in record["folds"]}


def _missing(crossfit: Any, teachers: dict[int, Path]) -> tuple[int, ...]:
    """Folds with no model to judge through (train's budget skipped them): their rows stay unjudged."""
    return tuple(split.fold for split in crossfit.plan.splits() if split.fold not in teachers)


def _timed_texts(crossfit: Any, rows: int, seed: int) -> tuple[list[str], list[str] | None]:
    """A seeded sample of judged texts: every model is timed on the same ones."""
    split = crossfit.holdout.valid if not crossfit.crossfit else crossfit.pool
    order = np.random.default_rng(seed).permutation(len(split))[:rows]
    texts = [split.texts[i] for i in order]
    return texts, None if split.pairs is None else [split.pairs[i] for i in order]


def _describe(chosen: Measured) -> str:
    speed = chosen.info["speed"]
    return f"{chosen.info['speedup']:.2f}x as fast, {speed['size_mb']:.1f} MB"
