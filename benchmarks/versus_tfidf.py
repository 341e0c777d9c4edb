"""A finished run's sealed-test macro-F1 against a plain TF-IDF + logistic regression on the same rows.

The peer a user would try first: scikit-learn's TfidfVectorizer (word 1-2-grams, sublinear tf)
and LogisticRegression (class_weight="balanced", as macro-F1 asks; otherwise defaults, max_iter
1000; on the drug reviews this is the 0.49 the issue tracker quotes), trained on every labeled row the run had
(RUN/data/clean.parquet: train and valid together) and scored on the run's sealed test rows
(RUN/data/test.parquet). Also the run's own TF-IDF baseline model on the same rows. The paired
comparison (2,000 stratified paired bootstrap resamples, and McNemar) is of the shipped
model's test predictions against the plain TF-IDF's.

    python benchmarks/versus_tfidf.py RUN [RUN ...]

Prints one JSON line per run. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ratchet.evaluation.mcnemar import mcnemar
from ratchet.evaluation.metrics import score
from ratchet.evaluation.significance import paired_bootstrap
from ratchet.fsutil import read_json


def plain_tfidf(run: Path) -> np.ndarray:
    """Plain TF-IDF + logistic regression predictions (label ids) on the run's sealed test rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    labels = read_json(run / "data" / "labels.json")["labels"]
    index = {str(label): i for i, label in enumerate(labels)}
    pool = pd.read_parquet(run / "data" / "clean.parquet")
    test = pd.read_parquet(run / "data" / "test.parquet")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform(pool["text"].astype(str))
    y = np.array([index[str(v)] for v in pool["label"]])
    model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(x, y)
    return model.predict(vectorizer.transform(test["text"].astype(str)))


def latest_evaluation(run: Path) -> pd.DataFrame:
    found = list((run / "steps").glob("*-evaluate/test_predictions.parquet"))
    latest = max(found, key=lambda path: read_json(path.parent / "manifest.json")["finished_at"])
    return pd.read_parquet(latest)


def ratchet_baseline(run: Path) -> np.ndarray | None:
    from ratchet.data.frames import read_split
    from ratchet.predictor import load_predictor

    found = sorted((run / "steps").glob("*-baseline/model"))
    if not found:
        return None
    test = read_split(run / "data" / "test.parquet")
    predictor = load_predictor(found[-1])
    return predictor.predict_ids(predictor.predict_probs(test.texts, test.pairs))


def compare(run: Path) -> dict:
    rows = latest_evaluation(run)
    truth, ours = rows["label_id"].to_numpy(), rows["pred_id"].to_numpy()
    theirs = plain_tfidf(run)
    k = int(max(truth.max(), ours.max(), theirs.max())) + 1

    def macro_f1(pred: np.ndarray) -> float:
        return round(float(score("macro_f1", truth, np.eye(k)[pred])), 4)

    boot = paired_bootstrap(truth, theirs, ours, k=k, strata=truth)
    baseline = ratchet_baseline(run)
    ledger = read_json(run / "ledger.json")
    return {
        "run": str(run),
        "test_rows": len(truth),
        "shipped_macro_f1": macro_f1(ours),
        "plain_tfidf_macro_f1": macro_f1(theirs),
        "ratchet_baseline_macro_f1": None if baseline is None else macro_f1(baseline),
        "gain_vs_plain_tfidf": round(boot.gain, 4),
        "ci": [round(boot.ci_low, 4), round(boot.ci_high, 4)],
        "p_better": round(boot.p_better, 4),
        "mcnemar_p": round(mcnemar(truth, theirs, ours).p_value, 4),
        "run_seconds": round(sum(e.get("seconds") or 0 for e in ledger), 1),
        "kept": [e["step"] for e in ledger if e.get("status") == "kept"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for run in args.runs:
        print(json.dumps(compare(run)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
