"""Is the candidate really better? Paired bootstrap, the corrected t-test, and the ratchet rule (McNemar:
mcnemar.py).

The pipeline calls :func:`judge` for every gated step with judged rows only (validation rows,
or out-of-fold rows of the train+valid pool; the test split is sealed): the candidate is kept
iff its gain exceeds ``min_gain`` and the paired bootstrap says it is better with probability
at least ``confidence``. With ``strata`` the bootstrap resamples within each class (stratified);
with ``folds`` a fold-level corrected resampled t-test (Nadeau and Bengio 2003) is recorded beside it,
and with ``fold_test`` (gate.fold_test=required, the default) the candidate must pass it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ratchet.evaluation.fold_test import corrected_t_test, fold_gains
from ratchet.evaluation.metrics import (
    CONFUSION_METRICS,
    bootstrap_indices,
    check_metric,
    confusion_matrix,
    confusion_score,
    resampled_confusions,
    row_log_loss,
    stratified_bootstrap_indices,
)
from ratchet.evaluation.verdict import verdict, with_fold_test

_TIE = 1e-12  # resample differences this small are float noise: counted as ties


@dataclass(frozen=True)
class BootstrapComparison:
    metric_a: float
    """Metric of A (the incumbent) on all rows."""
    metric_b: float
    """Metric of B (the candidate) on all rows."""
    gain: float
    """metric_b - metric_a on all rows."""
    ci_low: float
    """Lower percentile bound of the gain over resamples."""
    ci_high: float
    """Upper percentile bound of the gain over resamples."""
    p_better: float
    """Share of resamples where B beats A; ties count half (identical models give 0.5)."""
    n: int
    """Rows compared."""
    p_within: float | None = None
    """Share of resamples where B loses at most ``margin`` to A (non-inferiority; None: no margin asked)."""


@dataclass(frozen=True)
class GateDecision:
    kept: bool
    metric: str
    before: float
    """Incumbent's validation metric."""
    after: float
    """Candidate's validation metric."""
    gain: float
    ci_low: float
    ci_high: float
    p_better: float
    reason: str
    """One line for the ledger and the log."""
    n: int = 0
    """Rows compared (validation rows, or out-of-fold rows of the pool)."""
    folds: int = 1
    """Folds the rows came from (1: a holdout split)."""
    fold_gains: list[float] | None = None
    """The gain within each fold (cross-fitted judging)."""
    t_stat: float | None = None
    """Nadeau-Bengio corrected resampled t statistic of the fold gains (k - 1 degrees of freedom)."""
    t_p_value: float | None = None
    """One-sided p-value of that test (small: the candidate is better)."""
    margin: float | None = None
    """Non-inferiority margin the candidate was judged with (None: judged on being better)."""
    p_within: float | None = None
    """Share of resamples where the candidate lost at most ``margin``."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_pair(y_true: Any, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true, a, b = (np.asarray(x) for x in (y_true, a, b))
    if not (len(y_true) == len(a) == len(b)) or len(y_true) == 0 or a.shape != b.shape:
        raise ValueError(f"need equal, non-empty row counts: y_true {y_true.shape}, a {a.shape}, b {b.shape}")
    return y_true.astype(np.int64), a, b


def _compare(
    n: int,
    n_bootstrap: int,
    seed: int,
    confidence: float,
    full: tuple[float, float],
    resample: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    strata: np.ndarray | None = None,
    margin: float | None = None,
) -> BootstrapComparison:
    """Score A and B on the *same* resamples (the pairing) and summarize b - a."""
    if n_bootstrap < 1 or not 0 < confidence < 1:
        raise ValueError(f"need n_bootstrap >= 1 and 0 < confidence < 1, got {n_bootstrap}, {confidence}")
    diffs = []
    draws = (
        bootstrap_indices(n, n_bootstrap, seed)
        if strata is None
        else stratified_bootstrap_indices(strata, n_bootstrap, seed)
    )
    for idx in draws:
        score_a, score_b = resample(idx)
        diffs.append(score_b - score_a)
    diff = np.concatenate(diffs)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diff, [alpha, 1 - alpha])
    p_better = float(np.mean(diff > _TIE) + 0.5 * np.mean(np.abs(diff) <= _TIE))
    return BootstrapComparison(
        metric_a=full[0],
        metric_b=full[1],
        gain=full[1] - full[0],
        ci_low=float(low),
        ci_high=float(high),
        p_better=p_better,
        n=n,
        p_within=None if margin is None else float(np.mean(diff > -margin - _TIE)),
    )


def paired_bootstrap(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    k: int,
    metric: str = "macro_f1",
    n_bootstrap: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    strata: np.ndarray | None = None,
    margin: float | None = None,
) -> BootstrapComparison:
    """Paired percentile bootstrap of metric(B) - metric(A) over rows, from hard predictions.

    metric is one of CONFUSION_METRICS. Vectorized: per-resample confusion counts come from one
    np.bincount per chunk of resamples.
    """
    metric = check_metric(metric)
    if metric not in CONFUSION_METRICS:
        raise ValueError(f"paired_bootstrap needs a confusion metric {CONFUSION_METRICS}; use judge() for {metric}")
    y_true, pred_a, pred_b = check_pair(y_true, pred_a, pred_b)
    ids = (y_true, pred_a, pred_b)
    if min(x.min() for x in ids) < 0 or max(x.max() for x in ids) >= k:
        raise ValueError(f"labels and predictions must be class ids in [0, {k})")
    codes_a = y_true * k + pred_a.astype(np.int64)
    codes_b = y_true * k + pred_b.astype(np.int64)
    full = (
        float(confusion_score(metric, confusion_matrix(y_true, pred_a, k))),
        float(confusion_score(metric, confusion_matrix(y_true, pred_b, k))),
    )

    def resample(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            confusion_score(metric, resampled_confusions(codes_a, idx, k)),
            confusion_score(metric, resampled_confusions(codes_b, idx, k)),
        )

    return _compare(len(y_true), n_bootstrap, seed, confidence, full, resample, strata, margin)


def _paired_bootstrap_neg_log_loss(
    y_true: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    *,
    n_bootstrap: int,
    seed: int,
    confidence: float,
    strata: np.ndarray | None = None,
    margin: float | None = None,
) -> BootstrapComparison:
    """Same pairing for -log loss: a row's loss is fixed, so a resample's score is a mean."""
    loss_a, loss_b = row_log_loss(y_true, probs_a), row_log_loss(y_true, probs_b)
    full = (-float(loss_a.mean()), -float(loss_b.mean()))

    def resample(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -loss_a[idx].mean(axis=1), -loss_b[idx].mean(axis=1)

    return _compare(len(y_true), n_bootstrap, seed, confidence, full, resample, strata, margin)


def _paired_comparison(
    y_true: np.ndarray, incumbent_probs: np.ndarray, candidate_probs: np.ndarray, metric: str, n_bootstrap: int,
    seed: int, ci_level: float, strata: np.ndarray | None, margin: float | None,
) -> BootstrapComparison:  # fmt: skip
    """The paired bootstrap that fits the task and metric: label sets, log loss on probabilities, or a confusion
    metric on decisions."""
    if y_true.ndim == 2:
        from ratchet.evaluation.multilabel_metrics import paired_resamples

        full, resample = paired_resamples(y_true, incumbent_probs, candidate_probs, metric)
        return _compare(len(y_true), n_bootstrap, seed, ci_level, full, resample, None, margin)
    if metric == "neg_log_loss":
        return _paired_bootstrap_neg_log_loss(
            y_true, incumbent_probs, candidate_probs, n_bootstrap=n_bootstrap, seed=seed, confidence=ci_level,
            strata=strata, margin=margin,
        )  # fmt: skip
    return paired_bootstrap(
        y_true, incumbent_probs.argmax(axis=1), candidate_probs.argmax(axis=1), k=incumbent_probs.shape[1],
        metric=metric, n_bootstrap=n_bootstrap, seed=seed, confidence=ci_level, strata=strata, margin=margin,
    )  # fmt: skip


def judge(
    y_true: np.ndarray,
    incumbent_probs: np.ndarray,
    candidate_probs: np.ndarray,
    *,
    metric: str,
    min_gain: float,
    confidence: float,
    n_bootstrap: int,
    seed: int,
    ci_level: float = 0.95,
    stratified: bool = False,
    folds: np.ndarray | None = None,
    margin: float | None = None,
    metric_label: str | None = None,
    fold_test: bool = False,
) -> GateDecision:
    """The ratchet rule: keep the candidate iff gain > min_gain and p_better >= confidence (and, with
    ``fold_test`` and rows from 2+ folds, the corrected t-test of the fold gains has p <= 1 - confidence).

    ``margin`` asks the non-inferiority question instead (compress: a faster model that must not be
    worse): keep the candidate iff it loses at most ``margin`` in at least ``confidence`` of the
    resamples (``min_gain`` is not used).

    Pass judged rows only (validation, or out-of-fold). ``confidence`` is the threshold on p_better
    (one-sided); the reported interval is a two-sided ``ci_level`` percentile interval of the gain.
    ``stratified`` resamples within each true class; ``folds`` (the fold of each row) adds the
    corrected t-test of the fold gains to the decision's record; ``fold_test`` makes it part of the decision.
    Why both: the bootstrap resamples rows, so it sees which model is better on these rows, not whether the
    change would win again with other training draws (a different seed of the same recipe often "wins" on
    every resample); the fold gains vary with the fold fits, so their test carries that variance.
    ``metric_label`` names the metric in the reason when the scores are not plain probabilities
    (label sets at cross-tuned thresholds).
    """
    metric = check_metric(metric)
    y_true, incumbent_probs, candidate_probs = check_pair(y_true, incumbent_probs, candidate_probs)
    if incumbent_probs.ndim != 2:
        raise ValueError(f"probabilities must be (n, k), got {incumbent_probs.shape}")
    strata = y_true if stratified and y_true.ndim == 1 else None  # label sets: plain row resampling
    cmp = _paired_comparison(y_true, incumbent_probs, candidate_probs, metric, n_bootstrap, seed, ci_level, strata,
                             margin)  # fmt: skip
    n_folds = 1 if folds is None else len(np.unique(folds))
    test = None
    if folds is not None and n_folds > 1:
        gains = fold_gains(y_true, incumbent_probs, candidate_probs, np.asarray(folds), metric)
        test = corrected_t_test(gains, held_out_share=1.0 / n_folds)
    summary = (
        f"{metric_label or metric} {cmp.metric_a:.4f} -> {cmp.metric_b:.4f} (gain {cmp.gain:+.4f}, "
        f"{ci_level:.0%} CI [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}], P(better)={cmp.p_better:.3f})"
    )
    kept, reason = verdict(cmp, summary, min_gain=min_gain, confidence=confidence, margin=margin)
    if test is not None and margin is None:
        kept, reason = with_fold_test(kept, reason, summary, test, n_folds, confidence, required=fold_test)
    return GateDecision(
        kept=kept,
        metric=metric,
        before=cmp.metric_a,
        after=cmp.metric_b,
        gain=cmp.gain,
        ci_low=cmp.ci_low,
        ci_high=cmp.ci_high,
        p_better=cmp.p_better,
        reason=reason,
        n=cmp.n,
        folds=n_folds,
        fold_gains=None if test is None else test.fold_gains,
        t_stat=None if test is None else test.t_stat,
        t_p_value=None if test is None else test.p_value,
        margin=margin,
        p_within=cmp.p_within,
    )
