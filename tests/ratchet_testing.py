"""Test helpers shared across folders (a unique module name: `conftest` imports collide)."""

from __future__ import annotations

import random
from pathlib import Path

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


def write_train_test(folder: Path, n_train: int, n_test: int, seed: int) -> tuple[Path, Path]:
    """train.csv (rows drawn with ``seed``) and test.csv (``seed + 1``) in ``folder``."""
    import pandas as pd

    data, test = folder / "train.csv", folder / "test.csv"
    pd.DataFrame(synthetic_rows(n_train, seed=seed)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(n_test, seed=seed + 1)).to_csv(test, index=False)
    return data, test


FAST_TRAIN = [
    "train.epochs=3",
    "train.min_steps=0",
    "train.learning_rate=0.003",
    "gate.folds=holdout",
    "train.max_length=32",
    "train.max_tokens=512",
]


def assert_rule_applied(entry: dict, min_gain: float = 0.0, confidence: float = 0.8) -> None:
    """A gated ledger entry's status is what the ratchet rule says of its own recorded numbers (gain,
    P(better)): kept exactly when the gain beats min_gain with at least ``confidence``."""
    expected = "kept" if entry["gain"] > min_gain and entry["p_better"] >= confidence else "rejected"
    assert entry["status"] == expected, entry


def sharp_classifier_folder(base: Path, folder: Path, labels: list[str], meta: dict) -> Path:
    """A tiny classifier of ``base`` saved to ``folder``, its head scaled far from uniform so that probabilities
    tell models apart (export parity, int8 round trips)."""
    import torch

    from ratchet.models.load import load_for_classification, save_classifier

    torch.manual_seed(0)
    model, tokenizer = load_for_classification(str(base), labels)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2 and param.shape[0] == len(labels):
                param.mul_(40.0)
    save_classifier(model, tokenizer, labels, folder, meta)
    return folder
