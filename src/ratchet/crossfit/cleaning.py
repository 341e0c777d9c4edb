"""A kept relabel under cross-fitting: which training rows each fold drops, relabels or down-weights.

Holdout relabel rewrites ``data.train``. Cross-fitted, every pool row is also some fold's
held-out row, whose label must stay the original, so relabel cannot rewrite the pool. It
provides ``data.cleaning`` instead: for each fold, the changes its own training part gets
(found from that training part alone), and for the refit the changes the whole pool gets.
Every later fine-tune applies them when it builds a fold's training rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ratchet.data.frames import Split
from ratchet.fsutil import read_json, write_json

POOL = "pool"


def changes(positions: np.ndarray, original: pd.DataFrame, cleaned: pd.DataFrame, kept: np.ndarray) -> dict[str, Any]:
    """The difference apply_policy made to the rows at pool ``positions``, in pool positions."""
    positions = np.asarray(positions, dtype=np.int64)
    dropped = np.setdiff1d(np.arange(len(original)), kept)
    out: dict[str, Any] = {"drop": positions[dropped].tolist(), "relabel": {}, "weight": {}}
    before = original.iloc[kept].reset_index(drop=True)
    after = cleaned.reset_index(drop=True)
    moved = np.flatnonzero(before["label_id"].to_numpy() != after["label_id"].to_numpy())
    out["relabel"] = {str(int(positions[kept[i]])): int(after["label_id"].iloc[i]) for i in moved}
    if "weight" in after:
        old = before["weight"].to_numpy(np.float32) if "weight" in before else np.ones(len(before), np.float32)
        new = after["weight"].to_numpy(np.float32)
        out["weight"] = {str(int(positions[kept[i]])): float(new[i]) for i in np.flatnonzero(old != new)}
    return out


def apply(pool: Split, rows: np.ndarray, entry: dict[str, Any] | None) -> Split:
    """Pool ``rows`` as a fold's (or the refit's) training rows, with ``entry``'s changes made."""
    rows = np.asarray(rows, dtype=np.int64)
    if not entry:
        return pool.subset(rows)
    dropped = set(entry.get("drop", ()))
    rows = np.array([r for r in rows if int(r) not in dropped], dtype=np.int64)
    part = pool.subset(rows)
    relabel, weight = entry.get("relabel", {}), entry.get("weight", {})
    if not relabel and not weight:
        return part
    label_ids = part.label_ids.copy()
    weights = np.ones(len(rows), np.float32) if part.weights is None else part.weights.copy()
    for i, row in enumerate(rows):
        key = str(int(row))
        if key in relabel:
            label_ids[i] = relabel[key]
        if key in weight:
            weights[i] = weight[key]
    return Split(part.texts, part.pairs, label_ids, None if np.all(weights == 1.0) else weights)


def save(path: Path, policy: str, folds: dict[int, dict[str, Any]], pool_entry: dict[str, Any]) -> None:
    write_json(path, {"policy": policy, "folds": {str(k): v for k, v in folds.items()}, POOL: pool_entry})


def load(path: Path | None) -> dict[str, Any] | None:
    return None if path is None else read_json(path)


def fold_entry(cleaning: dict[str, Any] | None, fold: int | None) -> dict[str, Any] | None:
    """The changes for fold ``fold``'s training part, or (None) for the refit on the whole pool."""
    if cleaning is None:
        return None
    return cleaning[POOL] if fold is None else cleaning["folds"].get(str(fold))
