import numpy as np
import pytest
import torch

from ratchet.config import TrainParams
from ratchet.errors import RatchetError
from ratchet.training import telemetry as tm
from ratchet.training.inference import use_bf16
from ratchet.training.loop import fit

FAST = {"learning_rate": 3e-3, "min_steps": 0, "batch_size": 16, "max_tokens": 512, "max_length": 64, "patience": 10}


def test_flops_per_token_counts_non_embedding_params_and_attention(task):
    model = task()["model"]
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    dense = sum(p.numel() for p in model.parameters()) - embedding
    flops = tm.train_flops_per_token(model, mean_length=10.0)
    assert flops == pytest.approx(6 * dense + 12 * 2 * 32 * 10.0)
    assert tm.estimate_mfu(flops, 1000.0, torch.device("cpu")) is None  # no honest CPU peak


def test_rss_sampler_sees_an_allocation():
    with tm.RssSampler(interval=0.01) as rss:
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
        block += 1
        import time

        time.sleep(0.05)
    assert rss.peak_mb > 64
    assert tm.peak_rss_mb() >= rss.peak_mb * 0.9


@pytest.mark.parametrize("native", [True, False])
def test_precision_policy(native: bool, monkeypatch):
    # auto follows the hardware: bf16 only where the CPU computes it natively (emulated bf16 is slower).
    monkeypatch.setattr("ratchet.training.inference.cpu_has_native_bf16", lambda: native)
    monkeypatch.delenv("RATCHET_PRECISION", raising=False)
    assert use_bf16(torch.device("cpu")) is native
    # RATCHET_PRECISION settles auto whatever the hardware (the suite runs with fp32); explicit choices stand.
    for forced, expected in (("fp32", False), ("bf16", True), ("auto", native), ("", native)):
        monkeypatch.setenv("RATCHET_PRECISION", forced)
        assert use_bf16(torch.device("cpu")) is expected
        assert use_bf16(torch.device("cpu"), "bf16") and not use_bf16(torch.device("cpu"), "fp32")
    monkeypatch.setenv("RATCHET_PRECISION", "fp16")
    with pytest.raises(RatchetError, match="RATCHET_PRECISION='fp16' is not understood: use auto, bf16 or fp32"):
        use_bf16(torch.device("cpu"))
    monkeypatch.delenv("RATCHET_PRECISION")
    assert use_bf16(torch.device("cpu"), "bf16")
    assert not use_bf16(torch.device("cpu"), "fp32")
    with pytest.raises(ValueError, match="unknown precision"):
        use_bf16(torch.device("cpu"), "fp8")


def test_bf16_on_cpu_when_asked_still_learns(task, tmp_path):
    t = task("gpt2")
    result = fit(
        t["model"], t["train"], t["train_labels"], t["valid"], t["valid_labels"], TrainParams(**FAST, epochs=3.0),
        device="cpu", seed=0, checkpoint_dir=tmp_path, pad_id=t["pad_id"], precision="bf16",
    )  # fmt: skip
    assert result.telemetry["precision"] == "bf16"
    assert result.best_score >= 0.85
    assert all(p.dtype == torch.float32 for p in t["model"].parameters())  # fp32 master weights


@pytest.mark.slow
def test_compiled_training_learns_like_eager(task, tmp_path):
    t = task("bert")
    result = fit(
        t["model"], t["train"], t["train_labels"], t["valid"], t["valid_labels"],
        TrainParams(**FAST, epochs=3.0, compile=True),
        device="cpu", seed=0, checkpoint_dir=tmp_path, pad_id=t["pad_id"],
    )  # fmt: skip
    assert result.telemetry["compile"] is True
    assert result.best_score >= 0.9
