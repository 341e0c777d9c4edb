"""The ratchet rule's verdict and its one-line reason, from a bootstrap comparison and the fold-level test."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (significance imports this module)
    from ratchet.evaluation.fold_test import CorrectedTTest
    from ratchet.evaluation.significance import BootstrapComparison


def with_fold_test(
    kept: bool, reason: str, summary: str, test: CorrectedTTest, n_folds: int, confidence: float, *, required: bool
) -> tuple[bool, str]:
    """The bootstrap's verdict (``reason``, built on ``summary``), with the fold-level test in the reason and
    (``required``) in the decision."""
    figure = f"corrected t-test over {n_folds} folds p={test.p_value:.3f}"
    if kept and required and test.p_value > 1.0 - confidence:
        return False, f"rejected: {figure} is above 1 - confidence {1.0 - confidence:.3f}; {summary}"
    return kept, f"{reason}; {figure}"


def verdict(
    cmp: BootstrapComparison, summary: str, *, min_gain: float, confidence: float, margin: float | None
) -> tuple[bool, str]:
    """(kept, the ledger's one-line reason): better by more than ``min_gain`` with ``confidence``, or (with a
    ``margin``) no worse than the margin with ``confidence``."""
    if margin is not None:
        kept = cmp.p_within is not None and cmp.p_within >= confidence
        within = f"P(loss <= {margin:.4f})={cmp.p_within:.3f}"
        below = "" if kept else f" is below confidence {confidence:.3f}"
        return kept, f"{'kept:' if kept else 'rejected:'} {within}{below}; {summary}"
    if cmp.gain > min_gain and cmp.p_better >= confidence:
        return True, f"kept: {summary}"
    if cmp.gain <= min_gain:
        return False, f"rejected: gain {cmp.gain:+.4f} is not above min_gain {min_gain:+.4f}; {summary}"
    return False, f"rejected: P(better)={cmp.p_better:.3f} is below confidence {confidence:.3f}; {summary}"
