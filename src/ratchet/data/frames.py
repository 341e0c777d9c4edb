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
    weights: np.ndarray | None

    def __len__(self) -> int:
        return len(self.texts)


def read_split(path: Path) -> Split:
    frame = pd.read_parquet(path)
    pairs = frame["text_pair"].astype(str).tolist() if "text_pair" in frame else None
    weights = frame["weight"].to_numpy(dtype=np.float32) if "weight" in frame else None
    if weights is not None and np.all(weights == 1.0):
        weights = None
    return Split(
        texts=frame["text"].astype(str).tolist(),
        pairs=pairs,
        label_ids=frame["label_id"].to_numpy(dtype=np.int64),
        weights=weights,
    )


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
