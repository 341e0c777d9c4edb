"""``ratchet compare`` for two multi-label runs: the label-set metrics, paired on the shared test rows.

Each run's evaluate step saved every test row's true and decided label sets (its thresholds
applied). The metrics are those of evaluation/multilabel_metrics (micro/macro/samples F1, subset
accuracy, Hamming loss); the paired bootstrap is the one the ratchet rule uses on label sets
(significance.judge: both runs scored on the same resampled rows); McNemar's test counts the rows
where exactly one run got the whole label set right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ratchet.evaluation.mcnemar import mcnemar
from ratchet.evaluation.significance import judge
from ratchet.reporting.compare import mcnemar_record, verdict

METRICS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")
HEADLINE = "micro_f1"
"""What the verdict reads: the multi-label gate's default metric (gate.multilabel_metric)."""
NAME = HEADLINE.replace("_f1", "-F1")
LOWER_IS_BETTER = ("hamming_loss",)


def label_matrix(column: pd.Series) -> np.ndarray:
    """A test_predictions column of label sets (one 0/1 array per row) as an (n, labels) matrix."""
    return np.stack([np.asarray(cell, dtype=np.int64) for cell in column]) if len(column) else np.zeros((0, 0))


def is_label_sets(predictions: pd.DataFrame) -> bool:
    return len(predictions) > 0 and np.ndim(predictions["label_id"].iloc[0]) == 1


def compare_label_sets(
    run_a: Path, run_b: Path, a: pd.DataFrame, b: pd.DataFrame, labels: list[str], n_bootstrap: int, seed: int
) -> dict[str, Any]:
    """The comparison dict of compare_runs (same keys) for label sets; B - A, positive favors B except for
    hamming_loss (a loss: negative favors B; ``p_better`` is always the chance that B is better)."""
    y, pred_a, pred_b = label_matrix(a["label_id"]), label_matrix(a["pred_id"]), label_matrix(b["pred_id"])
    metrics = {name: _paired(y, pred_a, pred_b, name, n_bootstrap, seed) for name in METRICS}
    exact_a, exact_b = (pred_a == y).all(axis=1), (pred_b == y).all(axis=1)
    # McNemar reads "right or wrong" per row: a row is right when its whole label set is.
    test = mcnemar(np.zeros(len(y)), (~exact_a).astype(np.int64), (~exact_b).astype(np.int64))
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "task": "multilabel",
        "n": len(y),
        "labels": labels,
        "n_bootstrap": n_bootstrap,
        "metrics": metrics,
        "mcnemar": mcnemar_record(test, unit="exact label set"),
        "verdict": verdict(metrics[HEADLINE], test.p_value, name=NAME, plain_name=NAME, gap="gap in exact sets"),
    }


def _paired(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, name: str, n_bootstrap: int, seed: int) -> dict:
    gate_name = "neg_hamming_loss" if name in LOWER_IS_BETTER else name
    # Decided sets as 0/1 "probabilities": judge decides label sets at 0.5, so it reads them back unchanged.
    found = judge(y, pred_a.astype(np.float64), pred_b.astype(np.float64), metric=gate_name, min_gain=0.0,
                  confidence=0.95, n_bootstrap=n_bootstrap, seed=seed)  # fmt: skip
    if name in LOWER_IS_BETTER:  # back from the negated gate metric to the loss itself
        return {"a": -found.before + 0.0, "b": -found.after + 0.0, "gain": -found.gain + 0.0,
                "ci": [-found.ci_high + 0.0, -found.ci_low + 0.0], "p_better": found.p_better}  # fmt: skip
    return {"a": found.before, "b": found.after, "gain": found.gain, "ci": [found.ci_low, found.ci_high],
            "p_better": found.p_better}  # fmt: skip
