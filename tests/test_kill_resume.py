"""A real SIGKILL mid-training, then --resume: the final metrics equal an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ratchet_testing import FAST_TRAIN

from ratchet.fsutil import read_json
from ratchet.training.checkpoint import STATE

STEPS = "clean,split,train,evaluate"
# Many small optimizer steps with a checkpoint after each, so the kill lands mid-training.
LONG_TRAIN = [*FAST_TRAIN, "train.epochs=25", "train.patience=100", "train.batch_size=4", "train.checkpoint_every=1"]


def command(data: Path, test: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "ratchet.cli", "run", str(data), "--test", str(test), "--out", str(out),
        "--model", str(model), "--steps", STEPS, "--seed", "7", "--quiet", *extra, *LONG_TRAIN,
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}


def test_sigkill_then_resume_matches_an_uninterrupted_run(
    tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path
) -> None:
    model = tiny_model_dir("bert")
    reference = tmp_path / "reference"
    subprocess.run(command(sentiment_csv, sentiment_test_csv, reference, model), env=env(), check=True, timeout=300)

    killed = tmp_path / "killed"
    checkpoint_dir = killed / "steps" / "03-train" / "checkpoint-train-fold0-seed7"  # holdout: one fold
    process = subprocess.Popen(command(sentiment_csv, sentiment_test_csv, killed, model), env=env())
    deadline = time.time() + 240
    # Wait until training has written checkpoints for a while, then kill without warning.
    while time.time() < deadline and process.poll() is None and not (checkpoint_dir / STATE).exists():
        time.sleep(0.02)
    time.sleep(0.5)
    assert process.poll() is None, "training finished before it could be killed: make it longer"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert read_json(killed / "steps" / "03-train" / "manifest.json")["status"] == "running"
    assert not (killed / "metrics.json").exists()

    subprocess.run(
        command(sentiment_csv, sentiment_test_csv, killed, model, "--resume"), env=env(), check=True, timeout=300
    )
    expected = read_json(reference / "metrics.json")["test"]
    got = read_json(killed / "metrics.json")["test"]
    assert got["confusion_matrix"] == expected["confusion_matrix"]
    assert got["log_loss"] == expected["log_loss"]
    assert got["macro_f1"] == expected["macro_f1"]
    # The resumed run continued from the checkpoint rather than starting over.
    resumed = read_json(killed / "steps" / "03-train" / "manifest.json")
    assert resumed["status"] == "kept"
    assert resumed["metrics"]["resumed_from_step"] > 0
