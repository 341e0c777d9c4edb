"""relabel on label sets: cleanlab's multi-label finder flags the rows whose set contradicts their cue words."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ratchet.cli import main
from ratchet.fsutil import read_json

CUES = {"sports": "football", "politics": "senate", "tech": "laptop"}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "with"]


def true_set(text: str) -> list[str]:
    return sorted(label for label, cue in CUES.items() if cue in text.split())


def test_flagged_rows_are_the_corrupted_ones_and_cleaning_is_kept(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        labels = sorted(rng.choice(list(CUES), size=int(rng.integers(1, 3)), replace=False).tolist())
        words = [*rng.choice(FILLER, size=int(rng.integers(3, 8))).tolist(), *(CUES[label] for label in labels)]
        rng.shuffle(words)
        given = labels if i % 6 else sorted(set(CUES) - set(labels))  # every 6th row: the other labels
        rows.append({"text": " ".join(words), "labels": json.dumps(given)})
    data = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "run"
    code = main(["run", str(data), "--out", str(out), "--model", "linear", "--quiet", "--steps",
                 "clean,split,relabel,baseline,evaluate", "gate.folds=holdout"])  # fmt: skip
    assert code == 0
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["relabel"]["status"] == "kept"
    issues = pd.read_csv(out / "data" / "label_issues.csv")
    pairs = zip(issues["text"], issues["given_labels"], strict=True)
    corrupted = [json.loads(given) != true_set(text) for text, given in pairs]
    assert len(issues) >= 30 and np.mean(corrupted) >= 0.9
    train = pd.read_parquet(out / "data" / "train.parquet")  # split's file stays; the kept cleaned set is the step's
    cleaned = pd.read_parquet(next((out / "steps").glob("*-relabel/train.parquet")))
    assert len(cleaned) == len(train) - len(issues)
