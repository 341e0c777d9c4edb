"""Label sets whose judgement is known at 0.5 and at tuned thresholds (shared by the tuned-gate tests).

- ``low_ranker``: every positive at 0.26-0.34, every negative at 0.02-0.14: a perfect ranking that never
  reaches 0.5 (micro-F1 0 at 0.5, 1 at any threshold in 0.15-0.25);
- ``near_half``: 0.5 +- 0.1 by the truth, plus noise (sd 0.12): right at 0.5 on about 80% of the cells,
  and no threshold separates its overlapping scores;
- ``noise``: uniform probabilities that ignore the truth: worse at every threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N_ROWS, N_LABELS = 300, 4


def label_sets(seed: int = 0) -> np.ndarray:
    """(rows, labels) 0/1, one or two labels a row."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((N_ROWS, N_LABELS), dtype=np.int64)
    for row in truth:
        row[rng.choice(N_LABELS, size=int(rng.integers(1, 3)), replace=False)] = 1
    return truth


def low_ranker(truth: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(truth == 1, rng.uniform(0.26, 0.34, truth.shape), rng.uniform(0.02, 0.14, truth.shape))


def near_half(truth: np.ndarray, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + 0.1 * (2 * truth - 1) + rng.normal(0, 0.12, truth.shape), 0.01, 0.99)


def noise(truth: np.ndarray, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, truth.shape)


def write_valid(path: Path, truth: np.ndarray) -> Path:
    """A valid split as the split step writes a multi-label one: each label_id cell a 0/1 list."""
    pd.DataFrame({"text": ["t"] * len(truth), "label_id": [list(map(int, row)) for row in truth]}).to_parquet(path)
    return path
