"""Read the standard split frames (text, text_pair, label, label_id, weight) back for training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ratchet.fsutil import read_json


@dataclass(frozen=True)
class Split:
    texts: list[str]
    pairs: list[str] | None
    label_ids: np.ndarray
    """Class ids (n,), or for a multi-label task the (n, labels) 0/1 matrix: a 2-D array marks multi-label."""
    weights: np.ndarray | None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: np.ndarray) -> Split:
        """The rows at ``rows`` (positions), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return Split(
            texts=[self.texts[i] for i in rows],
            pairs=None if self.pairs is None else [self.pairs[i] for i in rows],
            label_ids=self.label_ids[rows],
            weights=None if self.weights is None else self.weights[rows],
        )

    @staticmethod
    def concat(first: Split, second: Split) -> Split:
        """``first``'s rows, then ``second``'s (the pool: train rows, then valid rows)."""
        if (first.pairs is None) != (second.pairs is None):
            raise ValueError("cannot join a split with text pairs and one without")
        weights = None
        if first.weights is not None or second.weights is not None:
            weights = np.concatenate([
                np.ones(len(first), np.float32) if first.weights is None else first.weights,
                np.ones(len(second), np.float32) if second.weights is None else second.weights,
            ])  # fmt: skip
        return Split(
            texts=[*first.texts, *second.texts],
            pairs=None if first.pairs is None else [*first.pairs, *second.pairs],
            label_ids=np.concatenate([first.label_ids, second.label_ids]),
            weights=weights,
        )


def read_split(path: Path) -> Split:
    frame = pd.read_parquet(path)
    pairs = frame["text_pair"].astype(str).tolist() if "text_pair" in frame else None
    weights = frame["weight"].to_numpy(dtype=np.float32) if "weight" in frame else None
    if weights is not None and np.all(weights == 1.0):
        weights = None
    return Split(
        texts=frame["text"].astype(str).tolist(),
        pairs=pairs,
        label_ids=label_id_array(frame["label_id"]),
        weights=weights,
    )


def label_id_array(column: pd.Series) -> np.ndarray:
    """Class ids (n,) or, for a multi-label split whose cells are 0/1 lists, the (n, labels) 0/1 matrix."""
    if column.dtype == object:
        if len(column) == 0:
            return np.zeros((0, 0), dtype=np.int64)
        return np.stack([np.asarray(v, dtype=np.int64) for v in column])
    return column.to_numpy(dtype=np.int64)


def read_labels(path: Path) -> list:
    """Original label values, in label-id order."""
    return list(read_json(path)["labels"])


def label_kind(labels: list) -> str:
    """ "int" or "float" when every label is a number (predictions then come out as numbers), else "str"."""

    def number(value: object) -> bool:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))

    if labels and all(number(v) and not isinstance(v, (float, np.floating)) for v in labels):
        return "int"
    if labels and all(number(v) for v in labels):
        return "float"
    return "str"


def labels_record(labels: list) -> dict:
    """The labels.json content: the label values, in label-id order, in their own type (JSON numbers or strings)."""
    kind = label_kind(labels)
    cast = {"int": int, "float": float, "str": str}[kind]
    return {"labels": [cast(v) for v in labels], "kind": kind}
