"""Language-modelling batches: corpus windows, dynamic (whole-word) masking, reproducible per step.

Masks are drawn per batch (dynamic masking, as RoBERTa) from a generator seeded
by (seed, step): a resumed run draws exactly the masks an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ratchet.config import AdaptParams
from ratchet.training.batching import collate
from ratchet.training.encode import CHUNK, Encoded


@dataclass
class LMData:
    encoded: Encoded
    special: list[np.ndarray]
    """Per row: True at special tokens ([CLS], [SEP], ...), which are never masked."""
    words: list[np.ndarray]
    """Per row: index of the word each token belongs to (-1 for special tokens), for whole-word masking."""


def encode_corpus(tokenizer, texts: list[str], max_length: int) -> LMData:
    """Tokenize; a text longer than ``max_length`` becomes several windows, so no text is cut off."""
    ids: list[np.ndarray] = []
    special: list[np.ndarray] = []
    words: list[np.ndarray] = []
    for start in range(0, len(texts), CHUNK):
        batch = tokenizer(
            texts[start : start + CHUNK], truncation=True, max_length=max_length, return_overflowing_tokens=True,
            padding=False, return_attention_mask=False, return_special_tokens_mask=True,
        )  # fmt: skip
        for i, row in enumerate(batch["input_ids"]):
            is_special = np.asarray(batch["special_tokens_mask"][i], dtype=bool)
            word = np.array([-1 if w is None else w for w in batch.word_ids(i)], dtype=np.int64)
            ids.append(np.asarray(row, dtype=np.int32))
            special.append(is_special)
            words.append(np.where(is_special, -1, word))
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
    return LMData(Encoded(ids, lengths), special, words)


def _pad(arrays: list[np.ndarray], rows: np.ndarray, width: int, fill: Any, dtype: Any) -> torch.Tensor:
    out = np.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(arrays[row])] = arrays[row]
    return torch.from_numpy(out)


def mask_tokens(
    ids: torch.Tensor,
    maskable: torch.Tensor,
    words: torch.Tensor | None,
    *,
    probability: float,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking -> (inputs, labels): ``probability`` of tokens (or of whole words) are predicted; of those
    80% become the mask token, 10% a random token, 10% stay. Every row predicts at least one unit."""
    b, w = ids.shape
    if words is not None:
        pick = torch.rand(b, int(words.max()) + 2, generator=generator) < probability
        chosen = pick.gather(1, words.clamp_min(0)) & maskable
    else:
        chosen = (torch.rand(b, w, generator=generator) < probability) & maskable
    empty = ~chosen.any(1) & maskable.any(1)
    if bool(empty.any()):
        at = torch.rand(b, w, generator=generator).masked_fill(~maskable, -1.0).argmax(1, keepdim=True)
        forced = (words == words.gather(1, at)) if words is not None else torch.zeros_like(chosen).scatter(1, at, True)
        chosen |= forced & maskable & empty[:, None]
    labels = ids.masked_fill(~chosen, -100)
    roll = torch.rand(b, w, generator=generator)
    inputs = ids.masked_fill(chosen & (roll < 0.8), mask_id)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    random_ids = torch.randint(vocab_size, (b, w), generator=generator)
    return torch.where(swap, random_ids, inputs), labels


@dataclass
class Batcher:
    """Builds (inputs, labels) for rows of the corpus; masking depends only on the generator given."""

    data: LMData
    objective: str
    params: AdaptParams
    pad_id: int
    mask_id: int | None
    vocab_size: int
    pad_multiple: int
    unk_id: int | None = None
    """Never a prediction target: guessing [UNK] teaches nothing, and in text the vocabulary barely covers
    (Chinese with an English model: ~70% of tokens) it would be most of the loss."""

    def __call__(self, rows: np.ndarray, generator: torch.Generator) -> tuple[dict[str, torch.Tensor], int]:
        batch = collate(self.data.encoded, rows, self.pad_id, self.pad_multiple)
        ids = batch["input_ids"]
        width = ids.shape[1]
        # Real positions from the lengths, not from the mask: pad can equal a real id (GPT-2's EOS).
        attention = torch.from_numpy(np.arange(width)[None, :] < self.data.encoded.lengths[rows][:, None])
        if self.objective == "clm":
            batch["labels"] = ids.masked_fill(~attention, -100)
            return batch, int(attention[:, 1:].sum())  # the first token of a row is never predicted
        special = _pad(self.data.special, rows, width, True, bool)
        words = _pad(self.data.words, rows, width, -1, np.int64) if self.params.whole_word_masking else None
        assert self.mask_id is not None
        maskable = attention & ~special if self.unk_id is None else attention & ~special & (ids != self.unk_id)
        batch["input_ids"], labels = mask_tokens(
            ids, maskable, words, probability=self.params.mlm_probability,
            mask_id=self.mask_id, vocab_size=self.vocab_size, generator=generator,
        )  # fmt: skip
        batch["labels"] = labels
        return batch, int((labels != -100).sum())


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)
