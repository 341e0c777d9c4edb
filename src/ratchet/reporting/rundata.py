"""Read what a run folder holds, tolerating whatever is missing (partial, failed or running runs).

The report is rebuilt from files alone (``ratchet report RUN``), so every reader
returns an empty value instead of raising when a file is absent or unreadable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ratchet.errors import RatchetError

log = logging.getLogger("ratchet")

METRIC_LABELS = {"macro_f1": "macro F1", "weighted_f1": "weighted F1", "neg_log_loss": "negative log loss"}
VALID_PREDICTIONS = "valid_predictions.parquet"
"""Written by the report step: validation label_id, pred_id and prob_<label> of the shipped model."""


def own_gate_metric(entry: dict[str, Any]) -> str | None:
    """The metric a ledger entry was judged on when it is not the ledger's own (relabel: log loss), else None.

    Such an entry's reference, candidate, gain and CI are in that metric, not on the ledger's scale.
    """
    own = entry.get("gate_metric")
    return None if own is None or own == entry.get("metric") else str(own)


def read_json_or(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        log.warning("report: %s is unreadable (%s); that part is left out", path, exc)
        return default


@dataclass
class RunFiles:
    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_report: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    manifests: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    """(step folder, manifest) in step order."""

    @property
    def test(self) -> dict[str, Any]:
        test = self.metrics.get("test")
        return test if isinstance(test, dict) else {}

    @property
    def gate_metric(self) -> str:
        # The last entry's: clean and split record gate.metric before the labels say a run is multi-label.
        for entry in reversed(self.ledger):
            if entry.get("metric"):
                return str(entry["metric"])
        gate = self.config.get("gate")
        return str(gate.get("metric", "macro_f1")) if isinstance(gate, dict) else "macro_f1"

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS.get(self.gate_metric, self.gate_metric)

    def steps_named(self, name: str) -> list[tuple[Path, dict[str, Any]]]:
        return [(folder, m) for folder, m in self.manifests if m.get("step") == name]


def load_run(run_dir: str | Path) -> RunFiles:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RatchetError(f"run folder {run_dir} does not exist: pass the --out folder of a ratchet run")
    if not (run_dir / "config.yaml").is_file() and not (run_dir / "ledger.json").is_file():
        raise RatchetError(f"{run_dir} is not a ratchet run (no config.yaml or ledger.json): pass a run folder")
    run = RunFiles(run_dir=run_dir)
    try:
        loaded = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        run.config = loaded if isinstance(loaded, dict) else {}
    except (OSError, yaml.YAMLError):
        run.config = {}
    ledger = read_json_or(run_dir / "ledger.json", [])
    run.ledger = [e for e in ledger if isinstance(e, dict)] if isinstance(ledger, list) else []
    metrics = read_json_or(run_dir / "metrics.json", {})
    run.metrics = metrics if isinstance(metrics, dict) else {}
    report = read_json_or(run_dir / "data" / "data_report.json", {})
    run.data_report = report if isinstance(report, dict) else {}
    labels = read_json_or(run_dir / "data" / "labels.json", {})
    if isinstance(labels, dict) and isinstance(labels.get("labels"), list):
        run.labels = [str(label) for label in labels["labels"]]
    elif isinstance(run.test.get("labels"), list):
        run.labels = [str(label) for label in run.test["labels"]]
    steps_dir = run_dir / "steps"
    if steps_dir.is_dir():
        for folder in sorted(p for p in steps_dir.iterdir() if p.is_dir()):
            manifest = read_json_or(folder / "manifest.json", None)
            if isinstance(manifest, dict):
                run.manifests.append((folder, manifest))
    return run


def validation_predictions(run: RunFiles) -> tuple[pd.DataFrame, str] | None:
    """Validation rows with text, label_id, pred_id and probabilities, plus where they came from.

    Preferred: the shipped model's predictions saved by the report step. Otherwise the probabilities
    of the last accepted step that scored validation (the pipeline's incumbent), so ``ratchet report``
    on an older or partial run still gets an error analysis.
    """
    valid_path = run.run_dir / "data" / "valid.parquet"
    if not valid_path.is_file() or not run.labels:
        return None
    try:
        valid = pd.read_parquet(valid_path)
    except (OSError, ValueError) as exc:
        log.warning("report: %s is unreadable (%s)", valid_path, exc)
        return None
    probs, source = None, ""
    for folder, manifest in reversed(run.manifests):
        if manifest.get("step") == "report" and (folder / VALID_PREDICTIONS).is_file():
            frame = pd.read_parquet(folder / VALID_PREDICTIONS)
            columns = [f"prob_{label}" for label in run.labels]
            if "text" in frame.columns and set(columns) <= set(frame.columns):  # cross-fitted: out-of-fold rows
                return _with_confidence(frame, frame[columns].to_numpy(np.float64)), (
                    "out-of-fold predictions over every train+valid row (the model that ships saw them all)"
                )
            if set(columns) <= set(frame.columns):
                probs, source = frame[columns].to_numpy(np.float64), "the shipped model"
                break
    if probs is None:
        for folder, manifest in reversed(run.manifests):
            if manifest.get("status") in ("completed", "kept") and (folder / "valid_probs.npy").is_file():
                probs = np.load(folder / "valid_probs.npy").astype(np.float64)
                source = f"the {manifest.get('step', '?')} step's model"
                break
    if probs is None or probs.ndim != 2 or len(probs) != len(valid) or probs.shape[1] != len(run.labels):
        return None
    frame = pd.DataFrame({"text": valid["text"].astype(str)})
    if "text_pair" in valid:
        frame["text_pair"] = valid["text_pair"].astype(str)
    frame["label_id"] = valid["label_id"].to_numpy(np.int64)
    frame["pred_id"] = probs.argmax(axis=1)
    return _with_confidence(frame, probs), source


def _with_confidence(frame: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    frame = frame.copy()
    frame["confidence"] = probs.max(axis=1)
    frame["p_true"] = probs[np.arange(len(probs)), frame["label_id"].to_numpy()]
    return frame


def label_issues(run: RunFiles) -> pd.DataFrame | None:
    path = run.run_dir / "data" / "label_issues.csv"
    if not path.is_file():
        return None
    from ratchet.data.output import restore_frame

    try:
        # The file guards formula-like texts with an apostrophe for spreadsheets; the report shows them as written.
        return restore_frame(pd.read_csv(path))
    except (OSError, ValueError) as exc:
        log.warning("report: %s is unreadable (%s)", path, exc)
        return None
