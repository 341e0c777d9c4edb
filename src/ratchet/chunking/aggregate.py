"""Pool the predictions of a document's windows into one: mean, max, or a weighted mean (no attention).

Windows arrive as softmax probabilities. Their logarithms are the logits up to one constant per window,
which cancels in a softmax, so "mean" (softmax of the mean log-probability) is exactly the softmax of
the mean logits. Weighted means use weights that need no training: a window's token count (a short
tail window says less) or its top probability (a window that reads only boilerplate is unsure).
"""

from __future__ import annotations

import numpy as np

from ratchet.chunking.params import AGGREGATIONS

FLOOR = 1e-12
"""Probabilities are floored before the logarithm: a saturated window must not produce -inf."""


def aggregate(
    window_probs: np.ndarray, doc: np.ndarray, n_docs: int, how: str, content: np.ndarray | None = None
) -> np.ndarray:
    """(n_docs, n_labels) probabilities from (n_windows, n_labels) ``window_probs`` of documents ``doc``."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}: use one of {', '.join(AGGREGATIONS)}")
    probs = np.asarray(window_probs, dtype=np.float64)
    n_labels = probs.shape[1]
    if how == "max":
        pooled = np.full((n_docs, n_labels), -np.inf)
        np.maximum.at(pooled, doc, probs)
        return _normalized(pooled)
    if how == "mean":
        weights = np.ones(len(probs))
    elif how == "tokens":
        if content is None:
            raise ValueError("the tokens aggregation needs each window's token count")
        weights = np.maximum(np.asarray(content, dtype=np.float64), 1.0)
    else:  # confidence
        weights = probs.max(axis=1)
    logs = np.log(np.maximum(probs, FLOOR))
    sums = np.zeros((n_docs, n_labels))
    np.add.at(sums, doc, logs * weights[:, None])
    total = np.zeros(n_docs)
    np.add.at(total, doc, weights)
    mean_logits = sums / np.maximum(total, FLOOR)[:, None]
    return _softmax(mean_logits)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def _normalized(scores: np.ndarray) -> np.ndarray:
    return (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)
