"""One process per run folder: a second run, resume or report into a busy folder fails at once, intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ratchet_testing import FAST_TRAIN

from ratchet.fsutil import read_json
from ratchet.runlock import LOCK_FILE, RunFolderBusy, is_locked, run_lock


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def test_a_held_folder_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    with run_lock(tmp_path, "run"):
        assert is_locked(tmp_path)
        with (
            pytest.raises(RunFolderBusy, match=rf"in use by ratchet run \(PID {os.getpid()} "),
            run_lock(tmp_path, "x"),
        ):
            pass
    assert not is_locked(tmp_path)
    with run_lock(tmp_path, "report"):  # released: the next holder gets it
        assert json.loads((tmp_path / LOCK_FILE).read_text())["command"] == "report"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from ratchet.runlock import run_lock\nwith run_lock({str(tmp_path)!r}, 'run'):\n"
         "    print('held', flush=True)\n    import time; time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert is_locked(tmp_path)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; the lock went with its process
    assert not is_locked(tmp_path)
    with run_lock(tmp_path, "run --resume"):
        pass


def test_a_second_run_into_a_busy_folder_fails_and_the_first_finishes_intact(
    tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path
) -> None:
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "ratchet.cli"]
    first = [*cli, "run", str(sentiment_csv), "--test", str(sentiment_test_csv), "--out", str(out), "--quiet"]
    first += ["--model", str(tiny_model_dir("bert")), "--steps", "clean,split,train,evaluate", *FAST_TRAIN]
    running = subprocess.Popen(first, env=env())
    try:
        deadline = time.time() + 120
        while time.time() < deadline and running.poll() is None and not (out / "steps").is_dir():
            time.sleep(0.02)
        assert running.poll() is None, "the first run ended before it could be paused"
        running.send_signal(signal.SIGSTOP)  # hold it mid-run, lock and all, for as long as the checks take
        second = [*cli, "run", str(sentiment_csv), "--out", str(out), "--overwrite", "--quiet"]
        second += ["--steps", "clean,split,baseline,evaluate"]
        for command in (second, [*cli, "report", str(out)]):
            result = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=120)
            assert result.returncode == 2, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and f"in use by ratchet run (PID {running.pid} " in lines[0], lines
        running.send_signal(signal.SIGCONT)
        assert running.wait(timeout=300) == 0
    finally:
        if running.poll() is None:
            running.send_signal(signal.SIGCONT)
            running.kill()
    # Only the first run's recipe, config and results are in the folder.
    assert [entry["step"] for entry in read_json(out / "ledger.json")] == ["clean", "split", "train", "evaluate"]
    assert sorted(p.name for p in (out / "steps").iterdir()) == ["01-clean", "02-split", "03-train", "04-evaluate"]
    assert "baseline" not in (out / "config.yaml").read_text()
    assert (out / "metrics.json").is_file() and not is_locked(out)
