"""The judged rows' true labels, and the ratchet rule applied to them: the pipeline's only judge.

Judged rows are the valid split's (holdout), or every row of the train+valid pool, each
predicted by the fold model that did not see it (cross-fitted). Their labels are always the
originals: no step alters them. A candidate or reference may leave rows unjudged (NaN: a
fold the time budget skipped); the rule then compares the rows both sides cover.

Label sets are decided per label at a threshold, and the threshold that fits a model is its own:
a one-vs-rest baseline trained with balanced class weights lands near 0.5, a fine-tune that ranks
labels well may sit below it. Until the decide step settles the thresholds that ship, a multi-label
model is therefore scored at per-label thresholds cross-tuned on the judged rows (``TUNED``): each
fold's rows decided with thresholds fitted on the other folds (a holdout plan's valid rows are cut
into folds as decide cuts them), so reference and candidate are judged as decide would ship them,
on equal terms. Log loss reads the probabilities themselves and is never tuned.
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

AS_GIVEN = "as given"
"""Scores judged as they stand: argmax, or each label at 0.5 (or at thresholds a shipped model applies)."""
TUNED = "cross-tuned"
"""Label sets: each fold's rows decided at per-label thresholds fitted on the other folds (fit_thresholds)."""
SETTLING = "settling"
"""The step that settles the thresholds (decide): its reference as shipped (0.5) against its candidate's
cross-fitted thresholds, both as they stand: tuning either again would count the tuning twice."""


class JudgedTruth:
    """Labels (and folds) of the judged rows, read once per version of the split files."""

    def __init__(self) -> None:
        self._key: tuple[Path | None, ...] | None = None
        self._labels: np.ndarray | None = None
        self._folds: np.ndarray | None = None
        self._tuned: dict[tuple[str, str, int], np.ndarray] = {}
        """Cross-tuned decision scores by (hash of probabilities and rows, metric, seed): the incumbent is
        scored before and after every step, and tuning costs about a second."""

    def _load(self, store: ArtifactStore) -> None:
        import pandas as pd

        from ratchet.data.frames import label_id_array

        key = (store.path("data.valid"), store.path(FOLDS_KEY), store.path("data.train"))
        if key == self._key:
            return
        self._key, self._labels, self._folds, self._tuned = key, None, None, {}
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

    def tunes(self, store: ArtifactStore, metric: str) -> bool:
        """Whether ``metric`` on this run's judged labels depends on decision thresholds (label sets, not log loss)."""
        from ratchet.evaluation.metric_names import check_metric

        return self.multilabel(store) and check_metric(metric) != "neg_log_loss"

    def score(
        self, store: ArtifactStore, probs: np.ndarray | None, metric: str, at: str = AS_GIVEN, seed: int = 0
    ) -> float | None:
        """``metric`` on the rows ``probs`` covers; ``at=TUNED``: at per-label thresholds cross-tuned on them."""
        labels = self.labels(store)
        if probs is None or labels is None or len(labels) != len(probs):
            return None
        rows = covered(probs)
        if not rows.any():
            return None
        from ratchet.evaluation.metrics import score

        scores = probs[rows] if at != TUNED else self.cross_tuned(store, probs, rows, metric, seed)
        return float(score(metric, labels[rows], scores))

    def cross_tuned(
        self, store: ArtifactStore, probs: np.ndarray, rows: np.ndarray, metric: str, seed: int
    ) -> np.ndarray:
        """``probs[rows]`` as decision scores at per-label thresholds cross-tuned on ``rows`` (0.5 on them is the
        decision), exactly as decide fits them; unchanged where the metric needs no threshold or the rows
        span fewer than two folds (nothing to tune on that the held rows did not see)."""
        labels = self.labels(store)
        if labels is None or not self.tunes(store, metric):
            return np.asarray(probs)[rows]
        if not self.spans_folds(store, rows, seed):
            return np.asarray(probs)[rows]
        folds = self._judging_folds(store, seed)[rows]
        probs = np.asarray(probs, dtype=np.float32)[rows]  # as the pipeline stores the incumbent decide tunes
        import hashlib

        digest = hashlib.blake2b(probs.tobytes() + np.packbits(rows).tobytes(), digest_size=16).hexdigest()
        key = (digest, metric, seed)
        if key not in self._tuned:
            from ratchet.models.decision import Decision, cross_fitted, fit_thresholds

            self._tuned[key] = cross_fitted(
                labels[rows], probs, folds, lambda y, p: Decision(thresholds=fit_thresholds(y, p, metric))
            )
        return self._tuned[key]

    def spans_folds(self, store: ArtifactStore, rows: np.ndarray, seed: int) -> bool:
        """Whether ``rows`` span two or more judging folds: thresholds can be cross-tuned on them (a budget that
        ran one fold leaves rows of one fold only, scored at 0.5)."""
        return len(np.unique(self._judging_folds(store, seed)[rows])) >= 2

    def _judging_folds(self, store: ArtifactStore, seed: int) -> np.ndarray:
        """The cross-fitted plan's folds, or a holdout plan's valid rows cut into folds as decide cuts them."""
        folds = self.folds(store)
        if folds is not None:
            return folds
        from ratchet.models.decision import HOLDOUT_FOLDS, stratified_folds

        labels = self.labels(store)
        assert labels is not None
        return stratified_folds(labels, HOLDOUT_FOLDS, seed)

    def judge(
        self,
        store: ArtifactStore,
        reference: np.ndarray | None,
        candidate: np.ndarray,
        gate: GateParams,
        seed: int,
        margin: float | None = None,
        at: str = AS_GIVEN,
    ) -> GateDecision | None:
        """The ratchet rule; None when there is nothing to compare with (no incumbent yet): the candidate is taken.

        ``at=TUNED`` scores both sides at their own cross-tuned thresholds (label sets; see the module
        docstring); ``SETTLING`` judges both as given and says so in the reason."""
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
        if at == TUNED:
            reference, candidate = (self.cross_tuned(store, p, rows, gate.metric, seed) for p in (reference, candidate))
        else:
            reference, candidate = reference[rows], candidate[rows]
        return judge(
            labels[rows],
            reference,
            candidate,
            metric=gate.metric,
            metric_label=self.judged_at(store, gate.metric, at, rows, seed),
            min_gain=gate.min_gain,
            confidence=gate.confidence,
            n_bootstrap=gate.n_bootstrap,
            seed=seed,
            stratified=True,
            folds=None if folds is None else folds[rows],
            margin=margin,
            fold_test=gate.fold_test == "required",
        )

    def judged_at(self, store: ArtifactStore, metric: str, at: str, rows: np.ndarray, seed: int) -> str | None:
        """The metric as the rule scored both sides of ``rows``, for the ledger's reason (None: as given)."""
        if at == AS_GIVEN or not self.tunes(store, metric):
            return None
        if at == TUNED:
            if not self.spans_folds(store, rows, seed):
                return f"{metric} at 0.5 (the judged rows lie in one fold: no thresholds to cross-tune)"
            return f"{metric} at cross-tuned thresholds"
        return f"{metric} (reference at 0.5, candidate at its cross-fitted thresholds)"


def covered(probs: np.ndarray) -> np.ndarray:
    """Rows with probabilities (not NaN)."""
    return np.isfinite(np.asarray(probs, dtype=np.float64)).all(axis=1)
