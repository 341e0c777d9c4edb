"""Drug reviews: the default config vs --preset balanced (select + search) vs the TF-IDF baseline.

Three real ratchet runs on examples/drug_reviews (same data, same seed, same sealed test),
each through the CLI in its own process, timed from start to finish:

- baseline   clean, split, baseline, evaluate: TF-IDF word+char n-grams + logistic regression
- default    the default config (--preset fast): the default model fine-tuned with default parameters
- balanced   --preset balanced: + select (candidates vs the baseline) and search (Optuna trials)

Printed: test macro-F1 with its 95% bootstrap CI, accuracy, the shipped backbone, wall time,
and for balanced the ledger lines of select and search. Steps of the balanced preset that
this checkout does not have yet (e.g. relabel) are left out and named.

Usage (2 CPU cores: tens of minutes for balanced; --budget bounds it):

    python benchmarks/model_selection.py --out /tmp/model-selection [--budget 30m] [--trials 12]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "drug_reviews"


def ratchet(out: Path, *args: str) -> float:
    command = [sys.executable, "-m", "ratchet.cli", "run", str(DATA / "train.tsv"), "--test", str(DATA / "test.tsv"),
               "--out", str(out), "--overwrite", "--quiet", "--seed", "0", *args]  # fmt: skip
    print("$", " ".join(command[2:]), flush=True)
    started = time.time()
    subprocess.run(command, check=True)
    return time.time() - started


def balanced_steps() -> tuple[list[str], list[str]]:
    from ratchet.presets import PRESET_STEPS
    from ratchet.step_builders import STEP_BUILDERS

    wanted = list(PRESET_STEPS["balanced"])
    return [s for s in wanted if s in STEP_BUILDERS], [s for s in wanted if s not in STEP_BUILDERS]


def summary(out: Path, seconds: float) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    ci = (test.get("ci") or {}).get("macro_f1")
    return {
        "macro_f1": test["macro_f1"],
        "ci": ci,
        "accuracy": test["accuracy"],
        "model": metrics.get("model", {}).get("backbone", metrics.get("model", {}).get("kind")),
        "seconds": seconds,
        "ledger": json.loads((out / "ledger.json").read_text()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/model-selection", help="folder for the three run folders")
    parser.add_argument("--budget", help="--budget for the balanced run, e.g. 30m")
    parser.add_argument("--trials", type=int, help="search.n_trials for the balanced run (preset default: 12)")
    parser.add_argument("--only", choices=("baseline", "default", "balanced"), action="append")
    args = parser.parse_args()
    out = Path(args.out)
    runs: dict[str, dict] = {}
    only = set(args.only or ("baseline", "default", "balanced"))

    if "baseline" in only:
        seconds = ratchet(out / "baseline", "--steps", "clean,split,baseline,evaluate")
        runs["baseline"] = summary(out / "baseline", seconds)
    if "default" in only:
        seconds = ratchet(out / "default")
        runs["default"] = summary(out / "default", seconds)
    if "balanced" in only:
        steps, missing = balanced_steps()
        if missing:
            print(f"note: this checkout has no {', '.join(missing)} step; balanced runs without it", flush=True)
        extra = ["--preset", "balanced", "--steps", ",".join(steps)]
        extra += ["--budget", args.budget] if args.budget else []
        extra += [f"search.n_trials={args.trials}"] if args.trials else []
        seconds = ratchet(out / "balanced", *extra)
        runs["balanced"] = summary(out / "balanced", seconds)

    print("\ndrug reviews, sealed test (379 rows), CPU")
    print(f"{'run':<10} {'macro-F1':>9} {'95% CI':>17} {'accuracy':>9} {'wall':>8}  shipped")
    for name, run in runs.items():
        ci = f"[{run['ci'][0]:.3f}, {run['ci'][1]:.3f}]" if run["ci"] else ""
        print(f"{name:<10} {run['macro_f1']:>9.4f} {ci:>17} {run['accuracy']:>9.4f} {run['seconds']:>7.0f}s"
              f"  {run['model']}")  # fmt: skip
    if "baseline" in runs:
        for name in ("default", "balanced"):
            if name in runs:
                gain = runs[name]["macro_f1"] - runs["baseline"]["macro_f1"]
                ratio = runs[name]["seconds"] / runs["baseline"]["seconds"]
                print(f"{name} vs baseline: macro-F1 {gain:+.4f}, {ratio:.1f}x the wall time")
    if "balanced" in runs:
        print("\nbalanced ledger (validation macro-F1):")
        for entry in runs["balanced"]["ledger"]:
            after = "" if entry.get("after") is None else f"{entry['after']:.4f}"
            gain = "" if entry.get("gain") is None else f"gain {entry['gain']:+.4f}"
            print(f"  {entry['step']:<9} {entry['status']:<9} {after:>7} {gain:>13} {entry['seconds']:>7.0f}s"
                  f"  {entry.get('note') or ''}")  # fmt: skip
    (out / "summary.json").write_text(json.dumps(runs, indent=2, default=str))


if __name__ == "__main__":
    main()
