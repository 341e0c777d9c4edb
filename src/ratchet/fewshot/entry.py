"""Whether select adds the few-shot candidate, and for which backbone: a pure decision, with its reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ratchet.fewshot.params import FewShotParams

PREFIX = "fewshot:"


@dataclass(frozen=True)
class Entry:
    backbone: str | None
    """The encoder the candidate tunes (None: no few-shot candidate)."""
    reason: str
    """Why it entered or not, for the ledger and the report."""

    @property
    def name(self) -> str | None:
        """The candidate's name in select's ranking: ``fewshot:<backbone>``."""
        return None if self.backbone is None else PREFIX + self.backbone


def class_sizes(label_ids: np.ndarray, n_labels: int) -> tuple[int, int]:
    """(rows of the rarest label, 0 when a label has no training row; rows of the median label, rounded down)."""
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=n_labels)
    return (int(counts.min()), int(np.median(counts))) if len(counts) else (0, 0)


def decide_entry(
    params: FewShotParams,
    label_ids: np.ndarray,
    n_labels: int,
    transformers: list[str],
    *,
    text_pairs: bool,
    mean_pooling: Callable[[str], bool],
) -> Entry:
    """The few-shot candidate for the first of ``transformers`` read through mean pooling, when ``params`` and
    the training rows' class sizes call for it."""
    smallest, median = class_sizes(label_ids, n_labels)
    if params.enter == "never":
        return Entry(None, "fewshot.enter=never")
    if params.enter == "auto" and smallest >= params.enter_below:
        return Entry(None, f"the smallest class has {smallest} training rows, not fewer than "
                           f"fewshot.enter_below={params.enter_below}")  # fmt: skip
    if params.enter == "auto" and median >= params.median_below:
        # One rare class in otherwise ample data is imbalance, not few-shot data: the fine-tune's weighted loss
        # handles it, and a few-shot fit per fold would cost minutes for a candidate that ties at 64 a class.
        return Entry(None, f"the median class has {median} training rows, not fewer than "
                           f"fewshot.median_below={params.median_below}")  # fmt: skip
    if text_pairs:
        # The contrastive phase compares single texts' embeddings; a joint pair's mean is not one.
        return Entry(None, "sentence-pair data: the few-shot candidate compares single texts")
    backbone = next((name for name in transformers if mean_pooling(name)), None)
    if backbone is None:
        return Entry(None, "no candidate backbone is a mean-pooling sentence encoder")
    why = "fewshot.enter=always" if params.enter == "always" else (
        f"the smallest class has {smallest} training rows, fewer than fewshot.enter_below={params.enter_below}, "
        f"and the median class {median}"
    )  # fmt: skip
    return Entry(backbone, why)
