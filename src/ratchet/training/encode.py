"""Pre-tokenize once, up front, with the fast tokenizer in large batches.

Rows are kept unpadded (one int32 array each): padding happens per batch, after rows of
similar length have been grouped, so no compute is spent on a global pad length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1000
"""Rows per tokenizer call: large enough for the Rust tokenizer's parallelism, small enough for memory."""


@dataclass
class Encoded:
    input_ids: list[np.ndarray]
    """One unpadded int32 array of token ids per row (special tokens included, truncated)."""
    lengths: np.ndarray
    """Token count per row (int64), the basis of length bucketing and of real-token counts."""
    token_type_ids: list[np.ndarray] | None = None
    """Segment ids per row, only for text pairs on models that use them (BERT); None otherwise."""
    groups: np.ndarray | None = None
    """The document each row is a window of, when a fit learns from each document's pooled windows
    (chunk.loss=document: training.pooling); None: every row is a document of its own."""

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, rows: np.ndarray | list[int]) -> Encoded:
        """The given rows, in the given order (folds, shards)."""
        rows = np.asarray(rows, dtype=np.int64)
        types = None if self.token_type_ids is None else [self.token_type_ids[i] for i in rows]
        groups = None if self.groups is None else self.groups[rows].copy()
        return Encoded([self.input_ids[i] for i in rows], self.lengths[rows].copy(), types, groups)


def encode(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int) -> Encoded:
    """Tokenize ``texts`` (and ``pairs``) with truncation to ``max_length`` tokens, special tokens included."""
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
    want_types = pairs is not None and "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    ids: list[np.ndarray] = []
    types: list[np.ndarray] | None = [] if want_types else None
    for start in range(0, len(texts), CHUNK):
        chunk = [str(t) for t in texts[start : start + CHUNK]]
        chunk_pairs = None if pairs is None else [str(p) for p in pairs[start : start + CHUNK]]
        batch = tokenizer(
            chunk,
            chunk_pairs,
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=want_types,
        )
        ids.extend(np.asarray(row, dtype=np.int32) for row in batch["input_ids"])
        if types is not None:
            types.extend(np.asarray(row, dtype=np.int32) for row in batch["token_type_ids"])
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    return Encoded(ids, lengths, types)
