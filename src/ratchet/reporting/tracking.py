"""Log a finished run to the experiment trackers teams already use: MLflow and TensorBoard.

Everything logged comes from the run folder (config.yaml, ledger.json, the step
manifests, metrics.json), so tracking is a view of the run, never a second
source of truth. Both trackers are optional extras (``pip install ratchet[track]``)
imported only when asked for.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_dir
from ratchet.reporting.rundata import RunFiles, load_run

TRACKERS = ("mlflow", "tensorboard")
EXPERIMENT = "ratchet"
MLFLOW_DB = "mlflow.db"
TENSORBOARD_DIR = "tensorboard"
_HISTORY_KEYS = ("train_loss", "valid_loss", "valid_macro_f1", "tokens_per_s", "samples_per_s", "lr")
_TEST_KEYS = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "roc_auc_ovr",
    "log_loss",
    "ece",
)


@dataclass
class Tracked:
    params: dict[str, str] = field(default_factory=dict)
    series: list[tuple[str, float, int]] = field(default_factory=list)
    """(name, value, step); names use '/' so TensorBoard groups them."""


def check_trackers(trackers: Sequence[str]) -> None:
    """Fail before a run starts when a tracker is unknown or its package is not installed."""
    for tracker in trackers:
        if tracker not in TRACKERS:
            raise RatchetError(f"unknown tracker {tracker!r}: use {' or '.join(TRACKERS)}")
        if importlib.util.find_spec(tracker) is None:
            raise RatchetError(f"--track {tracker} needs the {tracker} package: pip install {tracker}")


def _clean_name(text: Any) -> str:
    # MLflow accepts letters, digits, _ - . / and space in names; label values are user text.
    return re.sub(r"[^\w\-. /]", "_", str(text))[:200]


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(data, dict):
        out: dict[str, str] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    value = ",".join(map(str, data)) if isinstance(data, (list, tuple)) else str(data)
    return {prefix.rstrip("."): value[:500]}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) and value == value else None


def collect(run: RunFiles) -> Tracked:
    """Params (the resolved config, the trained hyperparameters) and metric series of a run."""
    tracked = Tracked(params=_flatten(run.config))
    metric = run.gate_metric
    for index, entry in enumerate(run.ledger):
        step = _clean_name(entry.get("step", index))
        for key in ("after", "gain", "seconds", "p_better"):
            value = _number(entry.get(key))
            if value is not None:
                name = f"valid/{metric}" if key == "after" else f"ledger/{step}/{key}"
                tracked.series.append((name, value, index))
        if entry.get("gated") and entry.get("status") in ("kept", "rejected"):
            tracked.series.append((f"ledger/{step}/kept", float(entry["status"] == "kept"), index))
    for folder, manifest in run.manifests:
        metrics = manifest.get("metrics") or {}
        for point in metrics.get("history") or []:
            if not isinstance(point, dict) or _number(point.get("step")) is None:
                continue
            for key in _HISTORY_KEYS:
                value = _number(point.get(key))
                if value is not None:
                    tracked.series.append((f"{folder.name}/{key}", value, int(point["step"])))
        if isinstance(metrics.get("train_params"), dict):
            tracked.params.update(_flatten(metrics["train_params"], f"{folder.name}."))
    final_step = len(run.ledger)
    test = run.test
    for key in _TEST_KEYS:
        value = _number(test.get(key))
        if value is not None:
            tracked.series.append((f"test/{key}", value, final_step))
    for key, bounds in (test.get("ci") or {}).items():
        if isinstance(bounds, list) and len(bounds) == 2:
            tracked.series.append((f"test/{key}_ci_low", float(bounds[0]), final_step))
            tracked.series.append((f"test/{key}_ci_high", float(bounds[1]), final_step))
    for label, scores in (test.get("per_class") or {}).items():
        value = _number(scores.get("f1")) if isinstance(scores, dict) else None
        if value is not None:
            tracked.series.append((f"test/f1/{_clean_name(label)}", value, final_step))
    return tracked


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Trackers log schema migrations at INFO; that would scribble over the progress display."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def log_mlflow(run: RunFiles, tracked: Tracked, tracking_uri: str | None = None) -> str:
    """One MLflow run per call; default store: an SQLite file in the run folder (MLflow's file store is retired)."""
    check_trackers(["mlflow"])
    # MLflow 3 reports usage to its developers over the network; ratchet promises no network, and
    # setdefault keeps an explicit user choice.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    local = tracking_uri is None
    uri = f"sqlite:///{(run.run_dir / MLFLOW_DB).resolve()}" if local else tracking_uri
    with _quiet("mlflow", "alembic"):
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            # Keep a local store's artifacts inside the run folder, not in the current directory.
            location = (run.run_dir / "mlartifacts").resolve().as_uri() if local else None
            experiment_id = client.create_experiment(EXPERIMENT, artifact_location=location)
        tags = {"ratchet.run_dir": str(run.run_dir.resolve())}
        mlrun = client.create_run(experiment_id, run_name=run.run_dir.resolve().name, tags=tags)
        run_id = mlrun.info.run_id
        now = int(time.time() * 1000)
        params = [Param(_clean_name(k), v) for k, v in tracked.params.items()]
        metrics = [Metric(_clean_name(k), v, now, step) for k, v, step in tracked.series]
        for start in range(0, len(params), 100):  # MLflow's per-request limits
            client.log_batch(run_id, params=params[start : start + 100])
        for start in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[start : start + 1000])
        report = run.run_dir / "report.html"
        if report.is_file():
            client.log_artifact(run_id, str(report))
        client.set_terminated(run_id)
    return f"{uri} (experiment {EXPERIMENT}, run {run_id})"


def log_tensorboard(run: RunFiles, tracked: Tracked) -> str:
    """Event files in RUN/tensorboard, rewritten whole so a rebuilt report never duplicates points."""
    check_trackers(["tensorboard"])
    from torch.utils.tensorboard import SummaryWriter

    out = run.run_dir / TENSORBOARD_DIR

    def write(folder: Path) -> None:
        writer = SummaryWriter(log_dir=str(folder))
        try:
            table = "\n".join(f"| {k} | {v} |" for k, v in tracked.params.items())
            writer.add_text("params", "| param | value |\n|---|---|\n" + table, 0)
            for name, value, step in tracked.series:
                writer.add_scalar(name, value, step)
        finally:
            writer.close()

    atomic_dir(out, write)
    return str(out)


def track_run(run_dir: str | Path, trackers: Sequence[str], tracking_uri: str | None = None) -> dict[str, str]:
    """Log a run folder to each tracker; returns tracker -> where it went."""
    check_trackers(trackers)
    run = load_run(run_dir)
    tracked = collect(run)
    done = {}
    for tracker in dict.fromkeys(trackers):
        done[tracker] = log_mlflow(run, tracked, tracking_uri) if tracker == "mlflow" else log_tensorboard(run, tracked)
    return done
