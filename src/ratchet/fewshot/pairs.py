"""Same-class / different-class pairs for the contrastive phase, drawn without ever listing all pairs.

SetFit draws, for every row and every round, one row of the same class (target 1) and one of
another class (target 0). The number of possible pairs grows with the square of the rows, so
the pairs are sampled by index arithmetic and capped at ``max_pairs``: memory and time are
O(max_pairs) whether the training set has 50 rows or 500,000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pairs:
    first: np.ndarray
    """Row index of each pair's first text (int64)."""
    second: np.ndarray
    """Row index of each pair's second text."""
    target: np.ndarray
    """1.0 for same class, 0.0 for different classes (float32): the cosine similarity the loss aims at."""

    def __len__(self) -> int:
        return len(self.target)


def pair_count(n_rows: int, pairs_per_row: int, max_pairs: int) -> int:
    """Pairs generated for ``n_rows`` rows: two per row and round, at most ``max_pairs``."""
    return int(min(2 * pairs_per_row * n_rows, max_pairs))


def draw_pairs(label_ids: np.ndarray, *, pairs_per_row: int, max_pairs: int, seed: int) -> Pairs:
    """Half positive, half negative pairs (as far as the classes allow), in a seeded random order.

    Anchors cycle through every row before any repeats, so a capped draw still covers the rows
    evenly; the partner is a uniformly drawn other row of the same (or of another) class.
    """
    labels = np.asarray(label_ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    total = pair_count(len(labels), pairs_per_row, max_pairs)
    classes, counts = np.unique(labels, return_counts=True)
    members = {int(c): np.flatnonzero(labels == c) for c in classes}
    # Positives need a class with two rows or more; negatives need two classes.
    can_pair = np.isin(labels, classes[counts >= 2])
    wanted_pos = total // 2 if can_pair.any() else 0
    wanted_neg = total - wanted_pos if len(classes) >= 2 else 0
    if len(classes) < 2:
        wanted_pos = total if can_pair.any() else 0
    first_pos = _anchors(np.flatnonzero(can_pair), wanted_pos, rng)
    second_pos = np.empty_like(first_pos)
    for cls, rows in members.items():
        at = labels[first_pos] == cls
        if at.any():
            # A uniform other row of the class: draw among n-1 slots and skip the anchor's own slot.
            slot = np.searchsorted(rows, first_pos[at])
            other = rng.integers(0, len(rows) - 1, size=int(at.sum()))
            second_pos[at] = rows[other + (other >= slot)]
    first_neg = _anchors(np.arange(len(labels)), wanted_neg, rng)
    second_neg = np.empty_like(first_neg)
    for cls in members:
        at = labels[first_neg] == cls
        if at.any():
            others = np.flatnonzero(labels != cls)
            second_neg[at] = others[rng.integers(0, len(others), size=int(at.sum()))]
    first = np.concatenate([first_pos, first_neg])
    second = np.concatenate([second_pos, second_neg])
    target = np.concatenate([np.ones(len(first_pos)), np.zeros(len(first_neg))]).astype(np.float32)
    order = rng.permutation(len(first))
    return Pairs(first[order], second[order], target[order])


def _anchors(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` anchors from ``rows``: whole shuffled passes over them, then a shuffled partial pass."""
    if count == 0 or len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    passes, rest = divmod(count, len(rows))
    chunks = [rng.permutation(rows) for _ in range(passes)]
    chunks.append(rng.permutation(rows)[:rest])
    return np.concatenate(chunks).astype(np.int64)
