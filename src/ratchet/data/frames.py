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
