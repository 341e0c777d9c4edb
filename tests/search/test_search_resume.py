"""A real SIGKILL in the middle of a search trial, then --resume: finished trials are kept, not rerun."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
from ratchet_testing import assert_rule_applied, synthetic_rows

from ratchet.fsutil import read_json

N_TRIALS = 5
SETTINGS = [
    "train.epochs=2",
    "train.min_steps=0",
    "train.learning_rate=0.003",
    "gate.folds=holdout",
    "train.max_length=32",
    "train.max_tokens=256",
]


def command(data: Path, test: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "ratchet.cli", "run", str(data), "--test", str(test), "--out", str(out),
        "--model", str(model), "--steps", "clean,split,search", "--seed", "3", "--quiet",
        *extra, *SETTINGS, f"search.n_trials={N_TRIALS}",
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}


def trial_states(db: Path) -> dict[str, int]:
    """Trials per state; "SAMPLED" counts running trials whose parameters are already drawn."""
    if not db.is_file():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            states = dict(conn.execute("select state, count(*) from trials group by state").fetchall())
            sampled = (
                "select count(*) from (select trial_id from trials t join trial_params p using (trial_id) "
                "where t.state = 'RUNNING' group by trial_id having count(*) >= 9)"
            )  # all nine parameters drawn
            states["SAMPLED"] = conn.execute(sampled).fetchone()[0]
            return states
    except sqlite3.Error:  # tables not created yet, or locked for a moment
        return {}


def test_a_killed_search_resumes_without_rerunning_finished_trials(tiny_model_dir, tmp_path) -> None:
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(60, seed=31)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(15, seed=32)).to_csv(test, index=False)
    out, model = tmp_path / "run", tiny_model_dir("bert")
    step = out / "steps" / "03-search"
    db = step / "search.db"

    process = subprocess.Popen(command(data, test, out, model), env=env())
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        states = trial_states(db)
        # Kill inside a trial that has drawn its parameters (training under way).
        if states.get("COMPLETE", 0) + states.get("PRUNED", 0) >= 2 and states.get("SAMPLED", 0):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the search ended before it could be killed: make trials longer"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert read_json(step / "manifest.json")["status"] == "running"

    name = read_json(step / "study.json")["study_name"]
    before = optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
    finished = {t.number: (t.state, t.value, t.params) for t in before if t.state.is_finished()}
    killed = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(finished) >= 2 and len(killed) == 1 and killed[0].params

    subprocess.run(command(data, test, out, model, "--resume"), env=env(), check=True, timeout=600)
    after = optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
    # The finished trials are exactly as they were: same numbers, states, scores and parameters.
    for number, record in finished.items():
        assert (after[number].state, after[number].value, after[number].params) == record
    # The killed trial is failed and retried once with its parameters; nothing else is rerun.
    assert after[killed[0].number].state == optuna.trial.TrialState.FAIL
    retries = [t for t in after if t.system_attrs.get("failed_trial") == killed[0].number]
    assert len(retries) == 1 and retries[0].params == killed[0].params
    assert retries[0].state.is_finished()
    assert sum(t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL for t in after) == N_TRIALS
    metrics = read_json(step / "manifest.json")["metrics"]
    assert metrics["trials_before_resume"] == len(before)
    assert metrics["recovered_trials"] == 1
    assert metrics["trials_this_process"] == N_TRIALS - len(finished)
    assert_rule_applied(read_json(step / "manifest.json")["ledger"])
