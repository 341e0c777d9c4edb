"""The relabel step on a multi-label run: flag label sets with cleanlab, drop them, judge the cleaned set.

Holdout plans only: the gate's cheap learner (one-vs-rest TF-IDF) is fitted on the original
and on the cleaned training rows and scored on the untouched validation rows, by
``relabel.gate_metric`` (log loss: binary cross-entropy over the labels). A cross-fitted plan
would need each fold cleaned on its own, which is not wired for label sets yet: skipped.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from ratchet.config import RelabelParams
from ratchet.data.frames import read_split
from ratchet.data.io import write_parquet
from ratchet.data.output import write_table
from ratchet.relabel.multilabel_issues import find_set_issues, out_of_fold
from ratchet.step import Candidate, Outcome, Skipped, StepContext

ISSUES_FILE = "label_issues.csv"


def relabel_label_sets(ctx: StepContext, p: RelabelParams, labels: list, started: float) -> Outcome:
    from ratchet.models.linear import LinearTextModel

    if ctx.crossfit.crossfit:
        return Skipped("multi-label relabel runs on a holdout plan only yet (gate.folds=holdout, or 5000+ rows)")
    frame = pd.read_parquet(ctx.artifacts.get("data.train"))
    train, valid = read_split(ctx.artifacts.get("data.train")), read_split(ctx.artifacts.get("data.valid"))
    oof = out_of_fold(train, len(labels), p.folds, ctx.seed)
    issues = find_set_issues(train.label_ids, oof)
    issues_path = ctx.run_dir / "data" / ISSUES_FILE
    write_table(issues_path, _table(frame, issues.flagged, issues.quality, oof, labels))
    y = train.label_ids
    metrics: dict[str, Any] = {
        "mode": "one-vs-rest TF-IDF, out of fold (cleanlab multi_label=True)",
        "folds": p.folds,
        "policy": "drop" if p.policy == "drop" else f"drop (relabel.policy={p.policy} is not supported for label sets)",
        "rows": len(y),
        "flagged": len(issues.flagged),
        "flagged_share": round(len(issues.flagged) / max(1, len(y)), 4),
        "flagged_by_label": {str(label): int(y[issues.flagged, j].sum()) for j, label in enumerate(labels)},
        "label_issues": str(issues_path.relative_to(ctx.run_dir)),
    }
    if p.policy != "drop":
        ctx.log.warning("relabel: label sets support the drop policy only; flagged rows are dropped")
    if not len(issues.flagged):
        metrics["seconds"] = round(time.time() - started, 2)
        return Skipped("no label issues found", metrics)
    kept = np.setdiff1d(np.arange(len(y)), issues.flagged)
    cleaned = frame.iloc[kept].reset_index(drop=True)
    out = ctx.step_dir / "train.parquet"
    write_parquet(out, cleaned)
    gate_rows = train.subset(kept)
    reference = LinearTextModel(seed=ctx.seed).fit(train.texts, y, len(labels), train.pairs)
    candidate = LinearTextModel(seed=ctx.seed).fit(gate_rows.texts, gate_rows.label_ids, len(labels), gate_rows.pairs)
    metrics.update(rows_after=len(cleaned), gate_learner="one-vs-rest logistic regression on TF-IDF")
    metrics["seconds"] = round(time.time() - started, 2)
    return Candidate(
        probs=candidate.predict_proba(valid.texts, valid.pairs), provides={"data.train": out}, metrics=metrics,
        reference=reference.predict_proba(valid.texts, valid.pairs),
        reference_name="the same cheap learner on the uncleaned rows",
        metric=None if p.gate_metric == "run" else p.gate_metric,
    )  # fmt: skip


def _table(frame: pd.DataFrame, flagged: np.ndarray, quality: np.ndarray, oof: np.ndarray, labels: list):
    """The flagged rows for a person to review: text, given set, the set the other folds predict, quality."""
    names = [str(label) for label in labels]
    return pd.DataFrame({
        "row": flagged,
        "text": frame["text"].to_numpy()[flagged],
        "given_labels": frame["label"].to_numpy()[flagged],
        "predicted_labels": [json.dumps([names[j] for j in np.flatnonzero(oof[i] >= 0.5)]) for i in flagged],
        "quality": np.round(quality[flagged], 4),
    })  # fmt: skip
