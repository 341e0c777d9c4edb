"""Two processes share one study through a real PostgreSQL server started here, on loopback.

The run's search step and a ``ratchet worker`` both take trials; together they run exactly
the study's trials. Needs the Debian ``postgresql`` package (``.ci/run`` installs it); skips
with the reason when its binaries are absent. Root cannot run postgres: the server then runs
as the ``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest
from ratchet_testing import synthetic_rows

from ratchet.fsutil import read_json
from ratchet.search.study import with_installed_driver

N_TRIALS = 8
SETTINGS = [
    "train.epochs=4",
    "train.min_steps=0",
    "train.learning_rate=0.003",
    "gate.folds=holdout",
    "train.max_length=32",
    "train.max_tokens=256",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not bins:
        pytest.skip("PostgreSQL binaries not installed: apt-get install postgresql (.ci/run does)")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver is missing: pip install psycopg2-binary")
    bindir = Path(bins[-1]).parent
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: postgres cannot be started as root")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(tempfile.mkdtemp(prefix="ratchet-pg-"))
    if as_root:
        shutil.chown(home, user="postgres", group="postgres")
    data, port = home / "data", free_port()

    def pg(tool: str, *args: str) -> None:
        subprocess.run([*prefix, str(bindir / tool), *args], check=True, capture_output=True, timeout=120)

    try:
        pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "-t", "60", "start")
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "ratchet")
        yield f"postgresql://postgres@127.0.0.1:{port}/ratchet"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def wait_for(condition, what: str, timeout_s: float = 300.0) -> None:
    until = time.time() + timeout_s
    while not condition():
        assert time.time() < until, f"timed out waiting for {what}"
        time.sleep(0.05)


def pause_outside_transactions(process: subprocess.Popen, url: str) -> None:
    """SIGSTOP ``process`` at a moment it holds no open transaction on the database.

    Stopped inside one (Optuna takes the study row FOR UPDATE to number a new trial), it would
    hold that lock until resumed and the worker's first trial would wait for it forever.
    """
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            for _ in range(1000):
                process.send_signal(signal.SIGSTOP)
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
                )
                if cursor.fetchone()[0] == 0:
                    return
                process.send_signal(signal.SIGCONT)
                time.sleep(0.01)
    finally:
        conn.close()
    raise AssertionError("the run never paused outside a database transaction")


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def test_a_run_and_a_worker_share_one_postgres_study(postgres_url, tiny_model_dir, tmp_path) -> None:
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(100, seed=41)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(15, seed=42)).to_csv(test, index=False)
    out = tmp_path / "run"
    out.mkdir()  # the worker waits in it for the search to start
    cli = [sys.executable, "-m", "ratchet.cli"]
    run = [*cli, "run", str(data), "--test", str(test), "--out", str(out), "--quiet"]
    run += ["--model", str(tiny_model_dir("bert")), "--steps", "clean,split,search", "--storage", postgres_url]
    run += [*SETTINGS, f"search.n_trials={N_TRIALS}"]
    worker_log = tmp_path / "worker.log"
    # On an idle machine the run can finish a small study before a worker has even loaded torch. So the
    # run is paused (SIGSTOP) as soon as its study exists, outside any database transaction, and resumed
    # once the worker says it has joined (before its first trial): both then take trials concurrently.
    searching = subprocess.Popen(run, env=env())
    worker = None
    try:
        spec_file = out / "steps" / "03-search" / "study.json"
        wait_for(lambda: spec_file.is_file() or searching.poll() is not None, "the search to start")
        pause_outside_transactions(searching, postgres_url)
        with worker_log.open("w") as log:
            worker = subprocess.Popen(
                [*cli, "worker", str(out), "--storage", postgres_url], env=env(), stdout=subprocess.PIPE,
                stderr=log, text=True,
            )  # fmt: skip
        wait_for(lambda: "worker: joined" in worker_log.read_text() or worker.poll() is not None, "the worker to join")
        assert worker.poll() is None, worker_log.read_text()  # it joined, and has not finished the study alone
        searching.send_signal(signal.SIGCONT)
        assert searching.wait(timeout=900) == 0
        worker_out, _ = worker.communicate(timeout=300)
    finally:
        for process in (searching, worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
    assert worker.returncode == 0
    worker_trials = int(worker_out.split("worker finished ")[1].split()[0])

    step = out / "steps" / "03-search"
    spec = read_json(step / "study.json")
    study = optuna.load_study(study_name=spec["study_name"], storage=with_installed_driver(postgres_url))
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = [t for t in study.trials if t.state in done]
    assert len(finished) == N_TRIALS
    # Which process takes how many is timing, but both take some: the worker starts its first trial as
    # it joins, and the run its next one once resumed (a racing extra trial is marked surplus); together N.
    assert len({t.user_attrs["worker"] for t in finished}) == 2
    assert study.user_attrs["closed"]
    metrics = read_json(step / "manifest.json")["metrics"]
    assert metrics["trials_this_process"] + worker_trials == N_TRIALS
    assert metrics["storage"] == postgres_url  # no password in it to hide
    assert len(metrics["history"]) == N_TRIALS
