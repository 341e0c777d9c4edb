"""The default run (``ratchet run``, fast preset, no budget) on draws of a public data set, against plain TF-IDF.

What a new user sees: for each seed, ``--train-rows`` labeled rows and ``--test-rows`` sealed test
rows are drawn from a data set of ``benchmarks/public_data.py`` (stratified, disjoint texts),
ratchet runs with its defaults (plus any overrides), and ``versus_tfidf.compare`` scores what
shipped against a plain TF-IDF + logistic regression on the same rows. It also prints each gated
step's verdict, so a changed rule can be read step by step.

    python benchmarks/default_run.py --data crowdflower_tweets --seeds 0 1 2 --out /tmp/dr
    python benchmarks/default_run.py --data trec_questions --seeds 0 --out /tmp/dr gate.fold_test=recorded

One JSON line per seed in OUT/results.jsonl (a rerun skips seeds already there), and a summary.
Wall time is the run's own, on whatever else shares the machine. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_data
import versus_tfidf

from ratchet.fsutil import read_json


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a data set of benchmarks/public_data.py")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. gate.fold_test=recorded")
    return parser.parse_args(argv)


def one(args: argparse.Namespace, rows, seed: int) -> dict:
    """One seed's draw of ``rows`` (the whole data set, loaded once), the run on it, and its comparison."""
    folder = args.out / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    train, test = public_data.split(rows, args.test_rows, args.train_rows, seed=seed)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    run = folder / "run"
    command = [sys.executable, "-m", "ratchet", "run", str(folder / "train.csv"), "--test", str(folder / "test.csv"),
               "--out", str(run), "--overwrite", "--seed", str(seed), *args.overrides]  # fmt: skip
    started = time.time()
    with open(folder / "run.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    result = {"data": args.data, "seed": seed, "wall_seconds": round(time.time() - started, 1)}
    result.update(versus_tfidf.compare(run))
    result["verdicts"] = {
        e["step"]: {k: e.get(k) for k in ("status", "gain", "p_better", "t_p_value") if e.get(k) is not None}
        for e in read_json(run / "ledger.json")
        if e.get("gated")
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.jsonl"
    done = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
    rows = None
    for seed in args.seeds:
        if any(r["seed"] == seed and r["data"] == args.data for r in done):
            continue
        rows = public_data.load(args.data) if rows is None else rows  # read the package file once
        result = one(args, rows, seed)
        with open(results_file, "a") as f:
            f.write(json.dumps(result) + "\n")
        print(json.dumps(result), flush=True)
        done.append(result)
    rows = [r for r in done if r["data"] == args.data and r["seed"] in args.seeds]
    gains = [r["gain_vs_plain_tfidf"] for r in rows]
    shipped, plain = np.mean([r["shipped_macro_f1"] for r in rows]), np.mean([r["plain_tfidf_macro_f1"] for r in rows])
    wall = np.mean([r["wall_seconds"] for r in rows])
    print(f"{args.data}: {len(rows)} seeds; shipped {shipped:.4f}, plain TF-IDF {plain:.4f}, gain mean "
          f"{np.mean(gains):+.4f} (min {min(gains):+.4f}, max {max(gains):+.4f}); wall {wall:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
