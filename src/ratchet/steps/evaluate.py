"""evaluate: the sealed test, read once, scored with bootstrap intervals -> RUN/metrics.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from ratchet.data.frames import read_labels, read_split
from ratchet.fsutil import read_json, write_json, write_parquet
from ratchet.step import Completed, StepContext


@dataclass(frozen=True)
class EvaluateParams:
    n_bootstrap: int = 1000
    """Bootstrap resamples for the 95% intervals."""


class EvaluateStep:
    name: ClassVar[str] = "evaluate"
    requires: ClassVar[tuple[str, ...]] = ("data.test", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("metrics",)
    gated: ClassVar[bool] = False
    budget_share: ClassVar[float] = 0.05
    """A small reserved share, so training under --budget leaves time for the sealed evaluation."""

    def __init__(self, params: EvaluateParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        from ratchet.evaluation.metrics import classification_metrics
        from ratchet.predictor import load_predictor

        labels = read_labels(ctx.artifacts.get("data.labels"))
        test = read_split(ctx.artifacts.get("data.test"))
        model_dir = ctx.artifacts.get("model.current")
        predictor = load_predictor(model_dir, device=ctx.device)
        with ctx.progress.bar("evaluate (sealed test)", total=len(test)) as bar:
            probs = predictor.predict_probs(test.texts, test.pairs, on_rows=bar.advance)
        decided = predictor.predict_ids(probs)
        if decided.ndim == 2:
            return self._multilabel(ctx, labels, test.label_ids, probs, decided, model_dir)
        metrics = classification_metrics(
            test.label_ids, probs, [str(label) for label in labels], n_bootstrap=self.params.n_bootstrap, seed=ctx.seed,
            y_pred=decided,
        )  # fmt: skip
        meta = read_json(model_dir / "ratchet.json")
        predictions = pd.DataFrame({"label_id": test.label_ids, "pred_id": decided})
        for index, label in enumerate(labels):
            predictions[f"prob_{label}"] = probs[:, index]
        write_parquet(ctx.step_dir / "test_predictions.parquet", predictions)
        out = ctx.run_dir / "metrics.json"
        write_json(out, {"test": metrics, "model": meta})
        summary = {key: metrics[key] for key in ("accuracy", "macro_f1", "n") if key in metrics}
        return Completed(provides={"metrics": out}, metrics=summary)

    def _multilabel(self, ctx: StepContext, labels: list, truth, probs, decided, model_dir) -> Completed:
        """Label sets: micro/macro/samples F1, subset accuracy, Hamming loss, per-label scores with intervals."""
        from ratchet.evaluation.multilabel_metrics import multilabel_metrics

        names = [str(label) for label in labels]
        metrics = multilabel_metrics(truth, probs, names, n_bootstrap=self.params.n_bootstrap, seed=ctx.seed,
                                     y_pred=decided)  # fmt: skip
        predictions = pd.DataFrame({"label_id": list(truth), "pred_id": list(decided)})
        for index, label in enumerate(labels):
            predictions[f"prob_{label}"] = probs[:, index]
        write_parquet(ctx.step_dir / "test_predictions.parquet", predictions)
        out = ctx.run_dir / "metrics.json"
        write_json(out, {"test": metrics, "model": read_json(model_dir / "ratchet.json")})
        summary = {key: metrics[key] for key in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "n")}
        return Completed(provides={"metrics": out}, metrics=summary)
