"""McNemar's test: do two classifiers err on different rows of the same sealed test, more than chance says?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, chi2

from ratchet.evaluation.significance import check_pair

_EXACT_BELOW = 25  # exact binomial test when fewer discordant pairs than this


@dataclass(frozen=True)
class McNemarResult:
    b01: int
    """Rows A got wrong and B got right."""
    b10: int
    """Rows A got right and B got wrong."""
    statistic: float
    """min(b01, b10) for the exact test; the continuity-corrected chi-square otherwise."""
    p_value: float
    """Two-sided."""
    method: str
    """"exact" (binomial, b01 + b10 < 25) or "chi2" (1 dof, continuity correction)."""


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> McNemarResult:
    """McNemar's test on the rows where exactly one of A and B is right."""
    y_true, pred_a, pred_b = check_pair(y_true, pred_a, pred_b)
    right_a, right_b = pred_a == y_true, pred_b == y_true
    b01 = int(np.sum(~right_a & right_b))
    b10 = int(np.sum(right_a & ~right_b))
    discordant = b01 + b10
    if discordant < _EXACT_BELOW:
        low = min(b01, b10)
        # two-sided exact binomial(discordant, 1/2); symmetric, so twice the smaller tail
        p_value = min(1.0, 2.0 * float(binom.cdf(low, discordant, 0.5))) if discordant else 1.0
        return McNemarResult(b01, b10, float(low), p_value, "exact")
    # Edwards' continuity correction, floored at 0 so equal counts give statistic 0 and p = 1
    statistic = max(abs(b01 - b10) - 1, 0) ** 2 / discordant
    return McNemarResult(b01, b10, float(statistic), float(chi2.sf(statistic, 1)), "chi2")
