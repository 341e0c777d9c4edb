"""Build a realistic run folder by writing its files directly: no training needed.

The layout and keys follow what the pipeline writes (ledger.json, metrics.json,
steps/NN-name/manifest.json, data/*), with untrusted-looking texts mixed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ratchet.config import RunConfig
from ratchet.data.report import build_data_report
from ratchet.evaluation.metrics import classification_metrics
from ratchet.fsutil import write_json, write_text

LABELS = ["negative", "neutral", "positive"]
EVIL = '<script>document.title = "pwned"</script> & <b>bold</b>'


def noisy_probs(y: np.ndarray, accuracy: float, rng: np.random.Generator, k: int = 3) -> np.ndarray:
    """Probabilities whose argmax is right about ``accuracy`` of the time."""
    pred = np.where(rng.random(len(y)) < accuracy, y, rng.integers(0, k, len(y)))
    logits = rng.normal(0, 1, (len(y), k))
    logits[np.arange(len(y)), pred] += 2.5
    probs = np.exp(logits)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def shared_test_labels(n: int = 120, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, n)


def manifest(folder: Path, step: str, status: str, metrics: dict, seconds: float, ledger: dict) -> None:
    data = {
        "step": step,
        "gated": ledger.get("gated", False),
        "params": {},
        "params_hash": "x",
        "inputs": {},
        "status": status,
        "provides": {},
        "metrics": metrics,
        "seconds": seconds,
        "ledger": ledger,
    }
    write_json(folder / "manifest.json", data)


def make_fake_run(
    run: Path,
    *,
    seed: int = 0,
    accuracy: float = 0.8,
    y_test: np.ndarray | None = None,
    search: bool = True,
    evaluate: bool = True,
) -> Path:
    rng = np.random.default_rng(seed)
    run.mkdir(parents=True, exist_ok=True)
    write_text(run / "config.yaml", RunConfig(data="reviews.csv", out=str(run), seed=seed).to_yaml())
    data = run / "data"
    write_json(data / "labels.json", {"labels": LABELS, "kind": "str"})
    n_valid = 60
    y_valid = rng.integers(0, 3, n_valid)
    texts = [f"review {i}: {' '.join(rng.choice(['great', 'awful', 'okay', 'pain'], 5))}" for i in range(n_valid)]
    texts[0] = EVIL
    pd.DataFrame({"text": texts, "label": [LABELS[i] for i in y_valid], "label_id": y_valid}).to_parquet(
        data / "valid.parquet", index=False
    )
    clean = {
        "rows_in": 600,
        "rows_out": 571,
        "missing_label_dropped": 3,
        "empty_dropped": 2,
        "duplicate_rows": 40,
        "duplicates_merged": 20,
        "conflict_groups": 4,
        "conflicts_resolved": 3,
        "conflicts_dropped": 1,
        "conflict_rows_removed": 4,
        "html_unescaped": 75,
        "classes": {"negative": 180, "neutral": 60, "positive": 331},
    }
    report = build_data_report(clean, splits={"train": 430, "valid": 60, "test": 120}, leakage={"train": 2, "valid": 0})
    report["lengths"] = {
        "chars": {"min": 3, "mean": 410.2, "median": 380.0, "p95": 900.0, "max": 2100},
        "words": {"min": 1, "mean": 80.1, "median": 72.0, "p95": 170.0, "max": 400},
    }
    report["length_histogram"] = {"edges": [0, 50, 100, 150, 200, 400], "counts": [120, 250, 130, 50, 21]}
    report["near_duplicates"] = {"pairs": 7, "threshold": 0.9, "examples": [{"a": EVIL, "b": "other", "sim": 0.93}]}
    write_json(data / "data_report.json", report)
    pd.DataFrame(
        {
            "text": [EVIL, "fine drug"],
            "given_label": ["positive", "neutral"],
            "suggested_label": ["negative", "positive"],
            "label_quality": [0.02, 0.1],
            "accept": [None, None],
        }
    ).to_csv(data / "label_issues.csv", index=False)

    steps = run / "steps"
    ledger = []
    base_probs = noisy_probs(y_valid, 0.6, rng)
    train_probs = noisy_probs(y_valid, 0.85, rng)
    entries = [
        ("clean", "completed", {"rows": 571}, 0.4, {}),
        ("split", "completed", {"train": 430}, 0.1, {}),
        ("baseline", "completed", {"valid_macro_f1": 0.61}, 1.2, {"after": 0.6123}),
        (
            "relabel",
            "rejected",
            {"flagged": 12},
            8.5,
            {
                "gated": True,
                "gate_metric": "neg_log_loss",  # relabel's own: its gate learner's two fits, by log loss
                "before": 0.6123,
                "after": 0.6123,
                "reference": -0.9512,
                "candidate": -0.9601,
                "gain": -0.0089,
                "ci": [-0.041, 0.022],
                "p_better": 0.31,
                "reason": "rejected: gain -0.0089 is not above min_gain +0.0000; neg_log_loss -0.9512 -> -0.9601",
                "accuracy": {"before": 0.7123, "after": 0.7123, "candidate": 0.6902},
            },
        ),
    ]
    if search:
        trials = [
            {
                "number": i,
                "value": float(0.6 + 0.02 * i * rng.random()),
                "state": "COMPLETE",
                "params": {"learning_rate": float(10 ** rng.uniform(-5, -3)), "epochs": int(rng.integers(2, 6))},
            }
            for i in range(8)
        ]
        entries.append(
            (
                "search",
                "kept",
                {"trials": trials, "importances": {"learning_rate": 0.8, "epochs": 0.2}},
                40.0,
                {
                    "gated": True,
                    "before": 0.6123,
                    "after": 0.7011,
                    "candidate": 0.7011,
                    "gain": 0.0888,
                    "ci": [0.031, 0.142],
                    "p_better": 0.998,
                    "reason": "kept: macro_f1 0.6123 -> 0.7011",
                    "accuracy": {"before": 0.7123, "after": 0.7356, "candidate": 0.7356},
                },
            )
        )
    history = [
        {
            "step": 10 * (i + 1),
            "epoch": 0.5 * (i + 1),
            "train_loss": 1.1 - 0.15 * i,
            "valid_macro_f1": 0.5 + 0.07 * i,
            "valid_loss": 1.0 - 0.1 * i,
            "tokens_per_s": 5200 + 100 * i,
        }
        for i in range(5)
    ]
    train_metrics = {
        "backbone": "default",
        "best_valid_macro_f1": 0.78,
        "steps": 50,
        "stopped_early": False,
        "stopped_by_deadline": False,
        "history": history,
        "train_params": {"epochs": 4.0, "learning_rate": 5e-5},
        "telemetry": {
            "tokens_per_s": 5400.0,
            "samples_per_s": 60.0,
            "padding_waste": 0.08,
            "peak_rss_mb": 900.0,
            "peak_cuda_mb": None,
            "train_seconds": 30.0,
        },
    }
    entries.append(("train", "completed", train_metrics, 31.0, {"before": 0.7011, "after": 0.7805, "gain": 0.0794}))
    if evaluate:
        entries.append(
            ("evaluate", "completed", {"accuracy": 0.8}, 0.9, {"before": 0.7805, "after": 0.7805, "gain": 0.0})
        )
    for index, (step, status, metrics, seconds, extra) in enumerate(entries):
        folder = steps / f"{index + 1:02d}-{step}"
        folder.mkdir(parents=True)
        entry = {
            "step": step,
            "gated": extra.pop("gated", False),
            "metric": "macro_f1",
            "seconds": seconds,
            "before": None,
            "after": None,
            "gain": None,
            "status": status,
            **extra,
        }
        ledger.append(entry)
        manifest(folder, step, status, metrics, seconds, entry)
        if step in ("baseline", "train"):
            np.save(folder / "valid_probs.npy", base_probs if step == "baseline" else train_probs)
        if step == "evaluate":
            y = shared_test_labels() if y_test is None else y_test
            probs = noisy_probs(y, accuracy, rng)
            frame = pd.DataFrame({"label_id": y, "pred_id": probs.argmax(axis=1)})
            for c, label in enumerate(LABELS):
                frame[f"prob_{label}"] = probs[:, c]
            frame.to_parquet(folder / "test_predictions.parquet", index=False)
            metrics = classification_metrics(y, probs, LABELS, n_bootstrap=200, seed=0)
            write_json(run / "metrics.json", {"test": metrics, "model": {"kind": "transformer", "backbone": "default"}})
    write_json(run / "ledger.json", ledger)
    return run
