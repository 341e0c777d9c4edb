"""report: the last step. Writes RUN/report.html and logs the run to the trackers asked for.

Not gated, and it never touches the sealed test: the test results come from
metrics.json, which evaluate already wrote. It scores the shipped model on
validation once more only to list its most confident mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ratchet.data.frames import read_labels, read_split
from ratchet.errors import RatchetError
from ratchet.fsutil import write_parquet
from ratchet.reporting.rundata import VALID_PREDICTIONS
from ratchet.step import Completed, StepContext


@dataclass(frozen=True)
class ReportStepParams:
    track: tuple[str, ...] = ()
    """Trackers to log the finished run to: mlflow, tensorboard."""
    tracking_uri: str | None = None
    """MLflow tracking URI; an SQLite store in the run folder when None."""


def _is_multilabel(labels_path: Path | None) -> bool:
    from ratchet.fsutil import read_json

    return labels_path is not None and read_json(labels_path).get("task") == "multilabel"


class ReportStep:
    name: ClassVar[str] = "report"
    requires: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "model.current", "data.labels", "data.folds")
    provides: ClassVar[tuple[str, ...]] = ("report",)
    gated: ClassVar[bool] = False

    def __init__(self, params: ReportStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        from ratchet.reporting.report import build_report
        from ratchet.reporting.tracking import track_run

        metrics: dict[str, object] = {}
        valid_path = ctx.artifacts.maybe("data.valid")
        model_dir = ctx.artifacts.maybe("model.current")
        labels_path = ctx.artifacts.maybe("data.labels")
        judged_out_of_fold = "data.folds" in ctx.artifacts.declared and ctx.artifacts.maybe("data.folds") is not None
        multilabel = _is_multilabel(labels_path)
        if multilabel:
            metrics["valid_rows_scored"] = 0  # the error analysis reads one class per row: not for label sets
        elif judged_out_of_fold and ctx.crossfit.crossfit and ctx.incumbent is not None:
            metrics["valid_rows_scored"] = self._out_of_fold(ctx)
        elif valid_path is not None and model_dir is not None and labels_path is not None:
            metrics["valid_rows_scored"] = self._score_validation(ctx, valid_path, model_dir, labels_path)
        report = build_report(ctx.run_dir)
        metrics["report"] = str(report.relative_to(ctx.run_dir))
        if self.params.track:
            try:
                metrics["tracked"] = track_run(ctx.run_dir, self.params.track, self.params.tracking_uri)
            except RatchetError:
                raise
            except Exception as exc:  # a tracking server being down must not fail a finished run
                ctx.log.warning(
                    "tracking failed (%s: %s); the run and its report are complete", type(exc).__name__, exc
                )
                metrics["tracking_error"] = f"{type(exc).__name__}: {exc}"
        return Completed(provides={"report": report}, metrics=metrics)

    @staticmethod
    def _out_of_fold(ctx: StepContext) -> int:
        """Cross-fitted: the shipped model saw every pool row, so its mistakes there would be training errors.
        The error analysis reads the out-of-fold predictions the rule judged instead, with their texts."""
        from ratchet.gate import covered

        crossfit = ctx.crossfit
        probs, rows = ctx.incumbent, covered(ctx.incumbent)
        pool = crossfit.pool.subset(crossfit.plan.judged_rows()[rows])
        frame = pd.DataFrame({"text": pool.texts, "label_id": pool.label_ids, "pred_id": probs[rows].argmax(1)})
        if pool.pairs is not None:
            frame["text_pair"] = pool.pairs
        for index, label in enumerate(crossfit.labels):
            frame[f"prob_{label}"] = probs[rows, index]
        write_parquet(ctx.step_dir / VALID_PREDICTIONS, frame)
        return len(frame)

    @staticmethod
    def _score_validation(ctx: StepContext, valid_path: Path, model_dir: Path, labels_path: Path) -> int:
        """Validation probabilities of the shipped model, saved for the report's error analysis."""
        from ratchet.predictor import load_predictor

        labels = read_labels(labels_path)
        valid = read_split(valid_path)
        predictor = load_predictor(model_dir, device=ctx.device)
        with ctx.progress.bar("report (validation errors)", total=len(valid)) as bar:
            probs = predictor.predict_probs(valid.texts, valid.pairs, on_rows=bar.advance)
        frame = pd.DataFrame({"label_id": valid.label_ids, "pred_id": predictor.predict_ids(probs)})
        for index, label in enumerate(labels):
            frame[f"prob_{label}"] = probs[:, index]
        write_parquet(ctx.step_dir / VALID_PREDICTIONS, frame)
        return len(valid)
