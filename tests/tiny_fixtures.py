"""Fixtures shared by tests/models and tests/training: tiny models built from the toy task's texts.

Each of those folders' conftest imports them, so both get the same definitions without a copy.
``_one_thread`` is autouse there: bitwise-equal results (resume, DDP) need a fixed thread count, set
before any module-scoped fixture trains (autouse runs first within its scope), and given back after each
module, so tests elsewhere (fold workers need 2 threads) see the suite's own count.
"""

from __future__ import annotations

import pytest
import torch

from ratchet.models.tiny import build_tiny_model, toy_dataset

# A fit on the toy task in a few seconds: every layer trains, no min_steps floor (tests that want one set it).
FAST_FIT = {
    "learning_rate": 3e-3,
    "min_steps": 0,
    "batch_size": 16,
    "max_tokens": 512,
    "max_length": 64,
    "frozen_layers": 0,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy():
    return toy_dataset(120, seed=0)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, toy):
    texts, _ = toy
    root = tmp_path_factory.mktemp("tiny_models")
    return {family: build_tiny_model(family, texts, root / family) for family in ("bert", "sbert", "gpt2", "t5")}


@pytest.fixture(scope="session")
def task(tiny_dirs):
    """Factory: fresh tiny model (same seed -> same head) + encoded toy train/valid splits."""
    from ratchet.models.load import load_for_classification
    from ratchet.training.encode import encode

    def make(family: str = "bert", n_train: int = 300, n_valid: int = 40, dropout: float | None = None):
        train_texts, train_labels = toy_dataset(n_train, seed=1)
        valid_texts, valid_labels = toy_dataset(n_valid, seed=2)
        torch.manual_seed(0)
        model, tokenizer = load_for_classification(str(tiny_dirs[family]), ["bad", "good"], dropout=dropout)
        return {
            "model": model,
            "tokenizer": tokenizer,
            "train": encode(tokenizer, train_texts, None, 64),
            "train_labels": train_labels,
            "valid": encode(tokenizer, valid_texts, None, 64),
            "valid_labels": valid_labels,
            "pad_id": tokenizer.pad_token_id,
        }

    return make


class FakeProgress:
    """Stands in for the rich display: records each bar's total, the steps advanced and the last fields.

    ``on_advance(self)`` runs after every advance (a test can raise there, like a kill mid-training).
    """

    def __init__(self, on_advance=None) -> None:
        self.total: int | None = None
        self.advanced = 0
        self.fields: dict = {}
        self.on_advance = on_advance

    def bar(self, description, total, **fields):
        self.total = total
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def advance(self, n: int = 1, **fields) -> None:
        self.advanced += n
        self.fields.update(fields)
        if self.on_advance is not None:
            self.on_advance(self)

    def update(self, **fields) -> None:
        self.fields.update(fields)
