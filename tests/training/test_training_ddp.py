"""Data parallelism on CPU: 2 processes over gloo train like 1 process with the same effective batch."""

import numpy as np
import pandas as pd
import pytest

from ratchet.config import TrainParams
from ratchet.fsutil import write_json
from ratchet.models.load import load_classifier
from ratchet.models.tiny import toy_dataset
from ratchet.training.ddp import launch
from ratchet.training.loop import fit


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name, n, seed in (("train", 160, 1), ("valid", 40, 2)):
        texts, labels = toy_dataset(n, seed=seed)
        pd.DataFrame({"text": texts, "label": [["bad", "good"][y] for y in labels], "label_id": labels}).to_parquet(
            folder / f"{name}.parquet"
        )
    write_json(folder / "labels.json", {"labels": ["bad", "good"], "kind": "str"})
    return folder


def test_two_gloo_processes_match_one_process_with_the_same_effective_batch(tiny_dirs, data_dir, tmp_path, task):
    common = {
        "epochs": 3.0, "min_steps": 0, "learning_rate": 3e-3, "batch_size": 8, "max_tokens": 512, "max_length": 64,
        "dropout": 0.0, "evals_per_epoch": 1, "patience": 10,
    }  # fmt: skip
    model = str(tiny_dirs["gpt2"])
    result = launch(2, model=model, data_dir=data_dir, params=TrainParams(**common, grad_accum=1),
                    out_dir=tmp_path / "ddp", device="cpu", seed=0, timeout=300)  # fmt: skip
    assert result["telemetry"]["world_size"] == 2

    import torch

    from ratchet.models.load import load_for_classification
    from ratchet.training.encode import encode

    train_texts, train_labels = toy_dataset(160, seed=1)
    valid_texts, valid_labels = toy_dataset(40, seed=2)
    torch.manual_seed(0)
    single_model, tokenizer = load_for_classification(model, ["bad", "good"], dropout=0.0)
    single = fit(
        single_model, encode(tokenizer, train_texts, None, 64), train_labels,
        encode(tokenizer, valid_texts, None, 64), valid_labels, TrainParams(**common, grad_accum=2),
        device="cpu", seed=0, checkpoint_dir=tmp_path / "single", pad_id=tokenizer.pad_token_id,
    )  # fmt: skip
    assert result["steps"] == single.steps
    assert result["best_score"] == pytest.approx(single.best_score, abs=0.03)
    np.testing.assert_allclose(result["valid_probs"], single.valid_probs, atol=2e-3)
    ddp_losses = [h["train_loss"] for h in result["history"]]
    np.testing.assert_allclose(ddp_losses, [h["train_loss"] for h in single.history], rtol=2e-3)
    # rank 0 shipped a loadable model folder
    _, _, labels, meta = load_classifier(tmp_path / "ddp" / "model")
    assert labels == ["bad", "good"] and meta["max_length"] == 64
