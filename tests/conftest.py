"""Shared fixtures: a small synthetic sentiment set and tiny BERT / GPT-2 / T5 models built locally."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from ratchet_testing import synthetic_rows

torch.set_num_threads(2)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# fp32 on every machine: the suite compares PyTorch with fp32 ONNX exports at 1e-5 and its thresholds were set in
# fp32; a CPU with native bf16 (AMX, AVX512-BF16) would otherwise train and predict in bf16 under "auto". Tests of
# bf16 ask for it by name.
os.environ.setdefault("RATCHET_PRECISION", "fp32")


@pytest.fixture(scope="session")
def corpus_texts() -> list[str]:
    return [row["review"] for row in synthetic_rows(300, seed=99)]


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    pd.DataFrame(synthetic_rows(72, seed=1)).to_csv(path, index=False)
    return path


@pytest.fixture
def sentiment_test_csv(tmp_path: Path) -> Path:
    path = tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(30, seed=2)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, corpus_texts: list[str]):
    """Factory: family -> folder of a tiny model + tokenizer saved like any Hugging Face checkpoint."""
    from ratchet.models.tiny import build_tiny_model, toy_dataset

    built: dict[str, Path] = {}
    # The tokenizers also learn the toy task's texts, so its cue words are whole tokens: a test of what a model
    # learned from a cue then does not hang on pieces the cue shares with other words.
    texts = corpus_texts + toy_dataset(120, seed=0, n_labels=3)[0]

    def get(family: str = "bert") -> Path:
        if family not in built:
            built[family] = build_tiny_model(family, texts, tmp_path_factory.mktemp(f"tiny-{family}"), seed=0)
        return built[family]

    return get


STEPS_TRAIN_ONLY = "clean,split,train,evaluate"


@pytest.fixture(scope="session")
def sbert_run(tmp_path_factory: pytest.TempPathFactory, corpus_texts: list[str]) -> tuple[Path, Path]:
    """A finished run that shipped a mean-head fine-tune of a tiny sentence-transformers model; its test file."""
    from ratchet_testing import FAST_TRAIN

    from ratchet.cli import main
    from ratchet.fsutil import read_json
    from ratchet.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("api")
    model = build_tiny_model("sbert", corpus_texts, root / "tiny-sbert", seed=0)
    data, test = root / "train.csv", root / "test.csv"
    pd.DataFrame(synthetic_rows(72, seed=1)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(30, seed=2)).to_csv(test, index=False)
    run = root / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(run), "--model", str(model)]
    args += ["--steps", STEPS_TRAIN_ONLY]
    assert main([*args, "--quiet", *FAST_TRAIN]) == 0
    meta = read_json(run / "model" / "ratchet.json")
    assert (meta["kind"], meta["head"]) == ("transformer", "mean")
    return run, test
