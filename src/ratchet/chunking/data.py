"""A step's train/valid rows as window rows, ready for the ordinary fine-tune (finetuning.finetune).

Each window is a row that carries its document's label and weight; the training loop's batches
stay token-budgeted (training.batching), so a document of many windows is many short rows spread
over batches, never one huge tensor. The valid windows are scored per window while training
(early stopping on a holdout); the step pools them per document afterwards. With chunk.loss=document
the rows carry their document (Encoded.groups): batches then hold whole documents, the loss and the
validation score are taken per document (training.pooling).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratchet.chunking.windows import HEAD_SHARE, Windows, encode_windows
from ratchet.data.frames import Split


@dataclass
class WindowTaskData:
    """Duck-types finetuning.finetune.TaskData: ``train`` and ``valid`` hold one row per window."""

    train: Split
    valid: Split
    labels: list
    train_windows: Windows
    valid_windows: Windows
    backbone: str
    max_length: int
    source_fingerprint: str
    stride: int
    cut: str = "windows"
    head_share: float = HEAD_SHARE
    loss: str = "window"
    """(ChunkParams.loss) window: each window a training row of its own; document: each document's loss on its
    windows' mean logits (training.pooling)."""

    def fingerprint(self) -> str:
        """The documents' fingerprint and the windowing: a window fit never reads back a truncated one."""
        salt = f"windows:{self.max_length}:{self.stride}:{len(self.train)}:{len(self.valid)}"
        if self.cut != "windows":  # windows' fingerprints stay as they were, so earlier fit caches still serve
            salt += f":{self.cut}:{self.head_share}"
        if self.pooled:
            salt += ":document-loss"
        return hashlib.sha256(f"{self.source_fingerprint}\x1f{salt}".encode()).hexdigest()

    @property
    def pooled(self) -> bool:
        """Whether the fit learns from documents' pooled windows (with one row a text, head_tail has none to pool)."""
        return self.loss == "document" and self.cut == "windows"

    def encoded(self, backbone: str, tokenizer: Any, max_length: int) -> tuple[Any, Any]:
        if (backbone, max_length) != (self.backbone, self.max_length):
            raise ValueError(
                f"windows were cut for {self.backbone} at {self.max_length} tokens, not {backbone} at {max_length}"
            )
        train, valid = self.train_windows, self.valid_windows
        if not self.pooled:
            return train.encoded, valid.encoded
        return (dataclasses.replace(train.encoded, groups=train.doc),
                dataclasses.replace(valid.encoded, groups=valid.doc))  # fmt: skip


def window_rows(split: Split, windows: Windows) -> Split:
    """``split`` with each document repeated once per window (its label, weight and text)."""
    return split.subset(windows.doc)


def window_task_data(
    data: Any, tokenizer: Any, backbone: str, max_length: int, stride: int, cut: str = "windows",
    head_share: float = HEAD_SHARE, loss: str = "window",
) -> WindowTaskData:  # fmt: skip
    """The windows (or head+tail rows: ``cut``) of ``data`` (a TaskData) for a fine-tune of ``backbone`` at
    ``max_length`` tokens, learnt window by window or (``loss`` document) document by document."""
    train = encode_windows(tokenizer, data.train.texts, data.train.pairs, max_length, stride, cut, head_share)
    valid = encode_windows(tokenizer, data.valid.texts, data.valid.pairs, max_length, stride, cut, head_share)
    return WindowTaskData(window_rows(data.train, train), window_rows(data.valid, valid), data.labels, train, valid,
                          backbone, max_length, data.fingerprint(), stride, cut, head_share, loss)  # fmt: skip


def long_rows(tokenizer: Any, split: Split, max_length: int) -> np.ndarray:
    """Which of ``split``'s rows are longer than ``max_length`` tokens, special tokens included (bool mask)."""
    from ratchet.data.coverage import token_lengths

    if not len(split):
        return np.zeros(0, dtype=bool)
    return token_lengths(tokenizer, split.texts, split.pairs) > max_length


def window_summary(windows: Windows) -> dict[str, Any]:
    """How many windows the documents made (the ledger's record of the extra work)."""
    per_doc = windows.per_doc()
    return {"documents": int(windows.n_docs), "windows": len(windows.doc),
            "max_windows_per_document": int(per_doc.max()) if len(per_doc) else 0,
            "mean_windows_per_document": round(float(per_doc.mean()), 2) if len(per_doc) else 0.0}  # fmt: skip
