"""Training length on small data: how much does a longer schedule buy the shipped fine-tune, and what does it cost?

A cross-fitted run ships the refit's final weights after the configured schedule (5 epochs by default), so on
a few hundred texts the shipped model has seen about a hundred optimizer steps. This fits ratchet's fine-tune
of the default model on a seeded stratified draw of ``--train-rows`` texts of a data set, once per schedule
(``--schedules``: TrainParams overrides, ``epochs=10`` or ``epochs=5,min_steps=300``), with no validation rows
and its final weights (as the refit ships them), and scores each on the data set's fixed test sample
(macro-F1). ratchet's TF-IDF baseline (C chosen on an inner split) is fitted on the same rows for reference.

Data: a folder written by ``python benchmarks/public_data.py NAME --out DIR --test-rows 1000`` (train.csv,
test.csv), or ``demo`` (examples/drug_reviews with its test file). Wall time is each fit plus its prediction of
the test sample on 2 CPU threads.

    python benchmarks/training_length.py --data trec_questions --dir DIR --train-rows 300 1000 --seeds 0 1 2 \\
        --schedules epochs=5 epochs=10 epochs=20 --log results.jsonl
    python benchmarks/training_length.py --summary results.jsonl

Prints one JSON line per fit and, with ``--summary``, a table with each schedule's paired gain over the first
schedule of its cell. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TFIDF = "tfidf"


def train_params(schedule: str):
    """TrainParams with a schedule's ``KEY=VALUE,KEY=VALUE`` overrides, each read as its default's type."""
    from ratchet.config import TrainParams

    defaults = TrainParams()
    changes = {}
    for item in filter(None, schedule.split(",")):
        key, _, value = item.partition("=")
        if not hasattr(defaults, key):
            raise SystemExit(f"--schedules {schedule}: TrainParams has no field {key!r}")
        changes[key] = type(getattr(defaults, key))(value)
    return dataclasses.replace(defaults, **changes)


def fit_and_predict(schedule: str, train, test, names: list[str], seed: int) -> tuple[np.ndarray, dict]:
    """Test probabilities of one schedule's fine-tune (or the TF-IDF baseline) fitted on ``train``, and what it
    took (optimizer steps, epochs)."""
    from ratchet.finetuning.finetune import TaskData, finetune
    from ratchet.predictor import load_predictor

    if schedule == TFIDF:
        from ratchet.crossfit.linear_folds import fit_linear_choosing_c
        from ratchet.steps.baseline import BaselineParams

        fitted = fit_linear_choosing_c(train, len(names), BaselineParams().linear, seed)
        return fitted.model.predict_proba(test.texts, None), {}
    params = train_params(schedule)
    with tempfile.TemporaryDirectory() as tmp:
        empty = test.subset(np.zeros(0, dtype=np.int64))
        result = finetune("default", TaskData(train, empty, names), params, device="cpu", seed=seed,
                          checkpoint_dir=Path(tmp) / "ckpt", deadline=None, save_to=Path(tmp) / "model",
                          select_best=False)  # fmt: skip
        probs = load_predictor(Path(tmp) / "model").predict_probs(test.texts, None)
    return probs, {"steps": result.steps}


def measure(args: argparse.Namespace) -> None:
    import torch
    from fewshot import load  # this folder is on sys.path when run as a script

    from ratchet.data.frames import Split
    from ratchet.evaluation.metrics import score
    from ratchet.training.plan import stratified_subsample

    torch.set_num_threads(2)
    train_texts, train_labels, test_texts, test_labels, names = load(args.data, args.dir)
    test = Split(test_texts, None, test_labels, None)
    for rows_wanted in args.train_rows:
        for seed in args.seeds:
            rows = stratified_subsample(train_labels, min(rows_wanted, len(train_labels)), seed)
            train = Split([train_texts[i] for i in rows], None, train_labels[rows], None)
            for schedule in [*args.schedules, TFIDF]:
                started = time.time()
                probs, took = fit_and_predict(schedule, train, test, names, seed)
                record = {
                    "data": args.data, "train_rows": len(rows), "seed": seed, "schedule": schedule,
                    "macro_f1": round(float(score("macro_f1", test_labels, probs)), 4), **took,
                    "seconds": round(time.time() - started, 1),
                }  # fmt: skip
                print(json.dumps(record), flush=True)
                if args.log is not None:
                    with open(args.log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")


def summarize(paths: list[Path]) -> None:
    """Mean macro-F1, steps and seconds per (data, rows, schedule); each schedule's paired gain over the first
    schedule measured in its cell, seed by seed."""
    records = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]
    cells: dict[tuple, dict[str, dict[int, dict]]] = {}
    for r in records:
        cells.setdefault((r["data"], r["train_rows"]), {}).setdefault(r["schedule"], {})[r["seed"]] = r
    print("| data | rows | schedule | seeds | macro-F1 mean | steps | seconds | gain over the first (per seed) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (data, rows), schedules in sorted(cells.items()):
        first = next(iter(schedules.values()))
        for schedule, runs in schedules.items():
            f1 = np.mean([r["macro_f1"] for r in runs.values()])
            steps = np.mean([r.get("steps") or 0 for r in runs.values()])
            seconds = np.mean([r["seconds"] for r in runs.values()])
            shared = sorted(set(first) & set(runs))
            gains = [runs[s]["macro_f1"] - first[s]["macro_f1"] for s in shared]
            gain = f"{np.mean(gains):+.3f} (" + ", ".join(f"{g:+.3f}" for g in gains) + ")" if runs is not first else ""
            print(f"| {data} | {rows} | {schedule} | {len(runs)} | {f1:.3f} | {steps:.0f} | {seconds:.0f} | {gain} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="demo, or the name of the public_data.py set in --dir")
    parser.add_argument("--dir", type=Path, help="folder with train.csv and test.csv (public_data.py --out)")
    parser.add_argument("--train-rows", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--schedules", nargs="+", default=["epochs=5", "epochs=10", "epochs=20"],
                        help="TrainParams overrides, KEY=VALUE[,KEY=VALUE]; the first is the reference")  # fmt: skip
    parser.add_argument("--log", type=Path, help="append one JSON line per fit here")
    parser.add_argument("--summary", type=Path, nargs="+", help="summarize JSON-line logs instead of measuring")
    args = parser.parse_args(argv)
    if args.summary:
        summarize(args.summary)
        return
    if args.data is None:
        parser.error("--data is required unless --summary")
    measure(args)


if __name__ == "__main__":
    main()
