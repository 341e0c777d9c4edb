"""Test helpers shared across folders (a unique module name: `conftest` imports collide)."""

from __future__ import annotations

import random

WORDS = {
    "positive": ["great", "excellent", "helped", "wonderful", "relief", "happy", "works"],
    "negative": ["awful", "terrible", "worse", "pain", "useless", "sick", "horrible"],
    "neutral": ["okay", "average", "some", "mixed", "maybe", "fine", "unsure"],
}
FILLER = ["the", "drug", "this", "medicine", "was", "for", "my", "i", "felt", "after", "week", "and", "it"]


def synthetic_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Texts whose label is carried by a few cue words among filler: learnable by a tiny model."""
    rng = random.Random(seed)
    labels = list(WORDS)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.sample(FILLER, 6) + rng.sample(WORDS[label], 2)
        rng.shuffle(words)
        rows.append({"review": " ".join(words) + f" {i}", "sentiment": label})
    return rows


FAST_TRAIN = ["train.epochs=3", "train.learning_rate=0.003", "train.max_length=32", "train.max_tokens=512"]
