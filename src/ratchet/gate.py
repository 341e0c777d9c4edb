"""The judged rows' true labels, and the ratchet rule applied to them: the pipeline's only judge.

Judged rows are the valid split's (holdout), or every row of the train+valid pool, each
predicted by the fold model that did not see it (cross-fitted). Their labels are always the
originals: no step alters them. A candidate or reference may leave rows unjudged (NaN: a
fold the time budget skipped); the rule then compares the rows both sides cover.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ratchet.artifacts import ArtifactStore

if TYPE_CHECKING:
    from ratchet.config import GateParams
    from ratchet.evaluation.significance import GateDecision

FOLDS_KEY = "data.folds"


class JudgedTruth:
    """Labels (and folds) of the judged rows, read once per version of the split files."""

    def __init__(self) -> None:
        self._key: tuple[Path | None, ...] | None = None
        self._labels: np.ndarray | None = None
        self._folds: np.ndarray | None = None

    def _load(self, store: ArtifactStore) -> None:
        import pandas as pd

        from ratchet.data.frames import label_id_array

        key = (store.path("data.valid"), store.path(FOLDS_KEY), store.path("data.train"))
        if key == self._key:
            return
        self._key, self._labels, self._folds = key, None, None
        valid, folds = key[0], key[1]
        if valid is None:
            return
        if folds is not None:
            from ratchet.crossfit.folds import FoldPlan

            plan = FoldPlan.load(folds)
            if plan.crossfit and key[2] is not None:
                pool = np.concatenate([
                    label_id_array(pd.read_parquet(key[2], columns=["label_id"])["label_id"]),
                    label_id_array(pd.read_parquet(valid, columns=["label_id"])["label_id"]),
                ])  # fmt: skip
                self._labels, self._folds = pool[plan.judged_rows()], plan.fold_ids()
                return
        self._labels = label_id_array(pd.read_parquet(valid, columns=["label_id"])["label_id"])

    def multilabel(self, store: ArtifactStore) -> bool:
        """Whether the judged labels are label sets (a 2-D 0/1 matrix)."""
        labels = self.labels(store)
        return labels is not None and labels.ndim == 2

    def gate_for(self, store: ArtifactStore, gate: GateParams) -> GateParams:
        """The gate as this run's task judges: multi-label runs use gate.multilabel_metric."""
        import dataclasses

        if self.multilabel(store) and gate.metric != gate.multilabel_metric:
            return dataclasses.replace(gate, metric=gate.multilabel_metric)
        return gate

    def labels(self, store: ArtifactStore) -> np.ndarray | None:
        self._load(store)
        return self._labels

    def folds(self, store: ArtifactStore) -> np.ndarray | None:
        self._load(store)
        return self._folds

    def score(self, store: ArtifactStore, probs: np.ndarray | None, metric: str) -> float | None:
        labels = self.labels(store)
        if probs is None or labels is None or len(labels) != len(probs):
            return None
        rows = covered(probs)
        if not rows.any():
            return None
        from ratchet.evaluation.metrics import score

        return float(score(metric, labels[rows], probs[rows]))

    def judge(
        self,
        store: ArtifactStore,
        reference: np.ndarray | None,
        candidate: np.ndarray,
        gate: GateParams,
        seed: int,
        margin: float | None = None,
    ) -> GateDecision | None:
        """The ratchet rule; None when there is nothing to compare with (no incumbent yet): the candidate is taken."""
        labels = self.labels(store)
        if reference is None or labels is None:
            return None
        from ratchet.evaluation.significance import judge

        rows = covered(candidate) & covered(reference)
        if not rows.any():
            from ratchet.evaluation.significance import GateDecision

            return GateDecision(False, gate.metric, float("nan"), float("nan"), float("nan"), float("nan"),
                                float("nan"), 0.0, "rejected: no judged row has both predictions")  # fmt: skip
        folds = self.folds(store)
        return judge(
            labels[rows],
            reference[rows],
            candidate[rows],
            metric=gate.metric,
            min_gain=gate.min_gain,
            confidence=gate.confidence,
            n_bootstrap=gate.n_bootstrap,
            seed=seed,
            stratified=True,
            folds=None if folds is None else folds[rows],
            margin=margin,
        )


def covered(probs: np.ndarray) -> np.ndarray:
    """Rows with probabilities (not NaN)."""
    return np.isfinite(np.asarray(probs, dtype=np.float64)).all(axis=1)
