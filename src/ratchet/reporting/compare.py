"""``ratchet compare RUN_A RUN_B``: are two runs' models really different on their shared test set?

Both runs' evaluate steps saved their test predictions row by row; the comparison
is paired (the same rows for both), which is far more sensitive than comparing
two independent intervals: a paired bootstrap of the gain and McNemar's test. Two multi-label
runs get the label-set metrics instead (reporting/compare_multilabel.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ratchet.errors import RatchetError
from ratchet.evaluation.mcnemar import mcnemar
from ratchet.evaluation.significance import paired_bootstrap

PREDICTIONS = "test_predictions.parquet"
METRICS = ("macro_f1", "accuracy", "weighted_f1")
N_BOOTSTRAP = 2000


def load_test_predictions(run_dir: str | Path) -> pd.DataFrame:
    """The evaluate step's row-by-row test predictions (label_id, pred_id, prob_*) of a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RatchetError(f"run folder {run_dir} does not exist: pass the --out folder of a ratchet run")
    found = sorted((run_dir / "steps").glob(f"*-evaluate/{PREDICTIONS}"))
    if not found:
        raise RatchetError(
            f"{run_dir} has no sealed-test predictions (steps/NN-evaluate/{PREDICTIONS}): "
            "finish the run with `ratchet run ... --resume` first"
        )
    return pd.read_parquet(found[-1])


def _labels(run_dir: Path) -> list[str] | None:
    path = run_dir / "data" / "labels.json"
    if not path.is_file():
        return None
    return [str(label) for label in json.loads(path.read_text(encoding="utf-8"))["labels"]]


def _fingerprints(run_dir: Path) -> set[str] | None:
    path = run_dir / "data" / "test_fingerprints.json"
    return set(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def check_shared_test(run_a: Path, run_b: Path, a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """Raise unless both runs scored the same test rows, in the same order, with the same label ids."""
    labels_a, labels_b = _labels(run_a), _labels(run_b)
    if labels_a is not None and labels_b is not None and labels_a != labels_b:
        raise RatchetError(
            f"the runs have different labels ({labels_a} vs {labels_b}): compare runs trained on the same task"
        )
    same = len(a) == len(b) and _same_truth(a, b)
    prints_a, prints_b = _fingerprints(run_a), _fingerprints(run_b)
    if not same or (prints_a is not None and prints_b is not None and prints_a != prints_b):
        raise RatchetError(
            f"{run_a} and {run_b} were not evaluated on the same test set ({len(a)} vs {len(b)} rows, "
            "different labels or texts): run both with the same --test file"
        )
    return labels_a or labels_b or [str(i) for i in range(int(max(a["label_id"].max(), a["pred_id"].max())) + 1)]


def _same_truth(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal label ids row by row (multi-label: equal label sets; a single-label run never equals a multi-label one)."""
    from ratchet.reporting.compare_multilabel import is_label_sets, label_matrix

    if is_label_sets(a) or is_label_sets(b):
        if not (is_label_sets(a) and is_label_sets(b)):
            return False
        return np.array_equal(label_matrix(a["label_id"]), label_matrix(b["label_id"]))
    return np.array_equal(a["label_id"].to_numpy(), b["label_id"].to_numpy())


def compare_runs(
    run_a: str | Path, run_b: str | Path, *, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0
) -> dict[str, Any]:
    """Paired comparison of B against A on their shared sealed test set (B - A: positive favors B)."""
    run_a, run_b = Path(run_a), Path(run_b)
    a, b = load_test_predictions(run_a), load_test_predictions(run_b)
    labels = check_shared_test(run_a, run_b, a, b)
    from ratchet.reporting.compare_multilabel import compare_label_sets, is_label_sets

    if is_label_sets(a):
        return compare_label_sets(run_a, run_b, a, b, labels, n_bootstrap, seed)
    y = a["label_id"].to_numpy(np.int64)
    pred_a, pred_b = a["pred_id"].to_numpy(np.int64), b["pred_id"].to_numpy(np.int64)
    k = max(len(labels), int(max(y.max(), pred_a.max(), pred_b.max())) + 1)
    metrics = {}
    for metric in METRICS:
        result = paired_bootstrap(y, pred_a, pred_b, k=k, metric=metric, n_bootstrap=n_bootstrap, seed=seed)
        metrics[metric] = {
            "a": result.metric_a,
            "b": result.metric_b,
            "gain": result.gain,
            "ci": [result.ci_low, result.ci_high],
            "p_better": result.p_better,
        }
    test = mcnemar(y, pred_a, pred_b)
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "n": len(y),
        "labels": labels,
        "n_bootstrap": n_bootstrap,
        "metrics": metrics,
        "mcnemar": mcnemar_record(test),
        "verdict": verdict(metrics["macro_f1"], test.p_value),
    }


def mcnemar_record(test: Any, **extra: str) -> dict[str, Any]:
    """The McNemar test as compare's JSON reports it (``extra``: e.g. the unit a multi-label run counts in)."""
    return {
        "b_right_a_wrong": test.b01,
        "a_right_b_wrong": test.b10,
        "statistic": test.statistic,
        "p_value": test.p_value,
        "method": test.method,
        **extra,
    }


def verdict(
    headline: dict[str, Any], p_value: float, name: str = "macro-F1", plain_name: str = "macro F1",
    gap: str = "accuracy gap",
) -> str:  # fmt: skip
    """One line from the headline metric's gain interval and McNemar's p (``gap``: what McNemar counts)."""
    low, high = headline["ci"]
    if low > 0 and p_value < 0.05:
        return f"B is better than A (the 95% interval of the {name} gain excludes 0; McNemar p < 0.05)"
    if high < 0 and p_value < 0.05:
        return f"A is better than B (the 95% interval of the {name} gain excludes 0; McNemar p < 0.05)"
    if low > 0 or high < 0:
        return f"probably different in {plain_name} (interval excludes 0), but McNemar finds no significant {gap}"
    return "no significant difference on this test set"


def format_comparison(comparison: dict[str, Any]) -> list[str]:
    """Lines for the terminal."""
    lines = [
        f"A: {comparison['run_a']}",
        f"B: {comparison['run_b']}",
        f"shared sealed test: {comparison['n']} rows, {len(comparison['labels'])} labels; "
        f"paired bootstrap with {comparison['n_bootstrap']} resamples",
    ]
    width = max(12, *(len(name) for name in comparison["metrics"]))  # subset_accuracy, for label sets
    lines.append(f"{'metric':<{width}} {'A':>8} {'B':>8} {'B - A':>9}  {'95% CI':<20} {'P(B better)':>11}")
    for name, m in comparison["metrics"].items():
        ci = f"[{m['ci'][0]:+.4f}, {m['ci'][1]:+.4f}]"
        row = f"{name:<{width}} {m['a']:>8.4f} {m['b']:>8.4f} {m['gain']:>+9.4f}  {ci:<20} {m['p_better']:>11.3f}"
        lines.append(row + ("  (a loss: lower is better)" if name == "hamming_loss" else ""))
    mc = comparison["mcnemar"]
    unit = f" on each row's {mc['unit']}" if "unit" in mc else ""
    lines.append(
        f"McNemar ({mc['method']}){unit}: B right where A wrong {mc['b_right_a_wrong']}, A right where B wrong "
        f"{mc['a_right_b_wrong']}, p = {mc['p_value']:.4g}"
    )
    lines.append(f"verdict: {comparison['verdict']}")
    return lines
