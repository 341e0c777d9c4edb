"""Words of a text and how model pieces (sub-tokens, character n-grams) map onto them.

A word is a run of word characters or a run of punctuation (``\\w+|[^\\w\\s]+``), found in the
text as the model reads it (after the run's cleaning). Every attribution method reports one
score per word, so IG on sub-tokens, the linear model's n-grams and occlusion line up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

WORD_RE = re.compile(r"\w+|[^\w\s]+")

Span = tuple[int, int]


def word_spans(text: str) -> list[Span]:
    """Character spans (start, end) of the words of ``text``, in order."""
    return [m.span() for m in WORD_RE.finditer(text)]


def overlap_weights(pieces: Sequence[Span], words: Sequence[Span]) -> np.ndarray:
    """(n_pieces, n_words) matrix: each piece's share of each word, by characters in common.

    A piece overlapping several words (a GPT-2 token holding a space and a word, a character
    n-gram across a hyphen) is split by how many of its characters fall in each. A piece that
    overlaps no word but has characters (a lone space token) goes wholly to the nearest word, so
    scores summed over words still add up to the sum over pieces. Empty pieces (special tokens,
    offsets (0, 0)) get no row weight.
    """
    out = np.zeros((len(pieces), len(words)), dtype=np.float64)
    if not words:
        return out
    starts = np.asarray([s for s, _ in words])
    ends = np.asarray([e for _, e in words])
    for i, (start, end) in enumerate(pieces):
        if end <= start:
            continue
        common = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0, None)
        if common.sum() > 0:
            out[i] = common / common.sum()
        else:  # whitespace only: to the nearest word, the following one on a tie (GPT-2's "Ġword" habit)
            after = starts >= end
            distance = np.where(after, starts - end, start - ends) * 2 + ~after
            out[i, int(np.argmin(distance))] = 1.0
    return out


def without_words(text: str, spans: Sequence[Span], drop: set[int]) -> str:
    """``text`` with the words indexed by ``drop`` deleted (the rest kept as written, spaces collapsed)."""
    parts, cursor = [], 0
    for index, (start, end) in enumerate(spans):
        if index in drop:
            parts.append(text[cursor:start])
            cursor = end
    parts.append(text[cursor:])
    return " ".join("".join(parts).split())


def only_words(text: str, spans: Sequence[Span], keep: set[int]) -> str:
    """Only the words indexed by ``keep``, in their order, joined by single spaces."""
    return " ".join(text[s:e] for i, (s, e) in enumerate(spans) if i in keep)
