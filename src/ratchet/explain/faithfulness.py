"""How faithful word scores are: comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER), AOPC form.

For a text x with predicted class c and its words ranked by score (highest first), for each
k in BINS the top ceil(k * n_words) words r_k are
- removed: comprehensiveness_k = p_c(x) - p_c(x without r_k)  (high: the words mattered),
- kept alone: sufficiency_k = p_c(x) - p_c(r_k only)           (low: the words suffice),
each averaged over the five bins (ERASER's AOPC; its formula also counts a 0% bin, which would
scale both by 5/6 and add p_c(x) - p_c(empty)/6 to sufficiency). p is the model's calibrated
probability, the same for every method, so methods compare on one scale. Random words (a
seeded ranking) are the floor a method must beat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ratchet.explain.result import Explanation
from ratchet.explain.words import only_words, without_words

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


@dataclass
class Faithfulness:
    comprehensiveness: float
    sufficiency: float
    rows: int


def rankings_of(explanations: Sequence[Explanation]) -> list[list[int]]:
    """Word indices by score, highest first (ties by position)."""
    return [sorted(range(len(e.scores)), key=lambda i: (-e.scores[i], i)) for e in explanations]


def random_rankings(explanations: Sequence[Explanation], seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.permutation(len(e.words))] for e in explanations]


def faithfulness(
    predict: Callable[[list[str]], np.ndarray],
    explanations: Sequence[Explanation],
    rankings: Sequence[Sequence[int]],
) -> Faithfulness:
    """AOPC comprehensiveness and sufficiency of ``rankings`` (one per explanation) toward each predicted label.

    ``predict(texts)`` returns calibrated probabilities; every variant of every text goes in one call.
    """
    variants: list[str] = []
    kept: list[int] = []  # the row of each block of 2 * len(BINS) variants
    for row, (explanation, order) in enumerate(zip(explanations, rankings, strict=True)):
        n = len(explanation.words)
        if n == 0:
            continue
        for share in BINS:
            top = set(order[: max(1, math.ceil(share * n))])
            variants.append(without_words(explanation.text, explanation.spans, top))
            variants.append(only_words(explanation.text, explanation.spans, top))
        kept.append(row)
    if not kept:
        return Faithfulness(0.0, 0.0, 0)
    probs = predict(variants)
    width = 2 * len(BINS)
    comp, suff = [], []
    for block, row in enumerate(kept):
        e = explanations[row]
        column = probs[block * width : (block + 1) * width, e.label_id]
        comp.append(float(np.mean(e.probability - column[0::2])))
        suff.append(float(np.mean(e.probability - column[1::2])))
    return Faithfulness(float(np.mean(comp)), float(np.mean(suff)), len(kept))
