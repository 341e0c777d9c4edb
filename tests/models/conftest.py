"""Tiny models built once per session from the toy task's texts (no downloads)."""

from __future__ import annotations

import pytest
import torch

from ratchet.models.tiny import build_tiny_model, toy_dataset


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # session scope: set before any module-scoped fixture trains (bitwise results need a fixed thread count)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy():
    return toy_dataset(120, seed=0)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, toy):
    texts, _ = toy
    root = tmp_path_factory.mktemp("tiny_models")
    return {family: build_tiny_model(family, texts, root / family) for family in ("bert", "gpt2", "t5")}
