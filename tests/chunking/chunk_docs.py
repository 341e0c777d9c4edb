"""Synthetic long documents whose label is decided by words that sit past max_length tokens.

Filler words are made up (consonant-vowel syllables), many of them, so that no two documents share
their word set (the cleaner would merge near-duplicates), and a tiny tokenizer built from these
texts reads each word as one token.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

CUES = {"positive": ["great", "excellent", "wonderful"], "negative": ["awful", "terrible", "horrible"]}
FILLER = ["".join(p) for p in itertools.product("bdkmpst", "aeiou", "lnr")][:90]


def decisive_rows(n: int, seed: int, lead: int = 14, cues: int = 6) -> list[dict[str, str]]:
    """``lead`` filler words, then ``cues`` words of the label: with max_length 16 on a tiny BERT (14 content
    tokens) the truncated text is filler only, so a truncated model cannot beat chance."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("positive", "negative")[i % 2]
        words = rng.sample(FILLER, lead) + [rng.choice(CUES[label]) for _ in range(cues)]
        rows.append({"review": " ".join(words), "sentiment": label})
    return rows


def short_rows(n: int, seed: int) -> list[dict[str, str]]:
    """The same cue words in texts that fit max_length: nothing for windows to add."""
    rng = random.Random(seed)
    return [
        {"review": " ".join([*rng.sample(FILLER, 3), rng.choice(CUES[label])]), "sentiment": label}
        for label in ("positive", "negative") * (n // 2)
    ]


def corpus() -> list[str]:
    """Texts a tiny tokenizer is built from: every filler and cue word."""
    words = FILLER + [w for cue in CUES.values() for w in cue]
    return [" ".join(words[i : i + 12]) for i in range(0, len(words), 6)] * 3


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)
    return path
