"""--budget bounds the whole run: select, search and train plan their fits into their shares; it ends on time.

Every step here is configured to run far longer than the budget (10^6 epochs, 10^6 trials), so
only the plans can bound them: each fine-tune measures its speed and fits a schedule (warmup
and decay included) into its share, search runs the trials that fit, and the run still
finishes with a trained model and sealed-test metrics.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ratchet_testing import write_train_test

from ratchet.fsutil import read_json

BUDGET_S = 120
MARGIN_S = 15
"""Evaluation and report after train's deadline, and the last evaluation of a cut fine-tune."""
STEPS = ["clean", "split", "baseline", "select", "search", "train", "evaluate"]


def test_a_two_minute_budget_ends_within_two_minutes_with_a_model_and_metrics(tiny_model_dir, tmp_path) -> None:
    data, test = write_train_test(tmp_path, 90, 30, seed=51)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "ratchet.cli", "run", str(data), "--test", str(test), "--out", str(out), "--quiet",
        "--model", str(tiny_model_dir("bert")), "--model", str(tiny_model_dir("gpt2")),
        "--steps", ",".join(STEPS), "--budget", f"{BUDGET_S}s",
        "train.epochs=1000000", "train.patience=1000000", "train.learning_rate=0.003", "gate.folds=holdout",
        "train.max_length=32", "train.max_tokens=256", "train.batch_size=8", "search.n_trials=1000000",
        "select.include_default=false", "select.include_linear=false",
    ]  # fmt: skip
    started = time.time()
    subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True, timeout=BUDGET_S * 3)
    wall = time.time() - started

    manifests = {name: read_json(out / "steps" / f"{i + 1:02d}-{name}" / "manifest.json")
                 for i, name in enumerate(STEPS)}  # fmt: skip
    # The budget clock starts when the pipeline starts (after Python imports) and ends with evaluate.
    pipeline_seconds = manifests["evaluate"]["finished_at"] - manifests["clean"]["started_at"]
    assert pipeline_seconds <= BUDGET_S + MARGIN_S, pipeline_seconds
    assert wall <= BUDGET_S + MARGIN_S + 60, wall  # imports of torch + transformers on a loaded machine

    # The fine-tunes were planned into their time, never configured to end: none is cut mid-schedule.
    train = manifests["train"]["metrics"]
    assert train["plan"]["epochs"] < 1000000 and train["plan"]["rate"] > 0 and not train["stopped_by_deadline"]
    assert train["history"][-1]["lr"] < 1e-9  # the decay ran to its end inside the budget
    search = manifests["search"]
    assert 0 < search["metrics"]["trials_this_process"] < 1000000
    # Shares: select and search end well before the run's deadline, leaving train its half.
    assert manifests["select"]["seconds"] < 0.35 * BUDGET_S
    assert manifests["search"]["finished_at"] - manifests["clean"]["started_at"] < 0.65 * BUDGET_S

    # Still a complete run: a shipped model and the sealed test evaluated.
    assert (out / "model" / "ratchet.json").is_file()
    metrics = read_json(out / "metrics.json")["test"]
    assert metrics["n"] == 30 and 0.0 <= metrics["macro_f1"] <= 1.0
