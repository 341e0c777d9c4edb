"""How often does the ratchet rule keep a change, holdout against cross-fitted judging, and what did it cost?

For each scenario and seed, ratchet runs the same recipe twice, once judged on one validation
split (``gate.folds=holdout``) and once on out-of-fold predictions (``gate.folds=5``), and the
benchmark records whether the scenario's gated step was kept and the sealed-test effect of
what the run then ships (0 when the step was rejected: nothing changed). Scenarios:

- ``relabel-20``, ``relabel-30`` (a true gain): 20% / 30% of the labeled pool's labels flipped to
  another class (seeded); ``clean, split, baseline, relabel`` with TF-IDF features. The effect
  is the test macro-F1 of ratchet's TF-IDF baseline trained on the cleaned rows minus on the
  noisy rows (the cleaning as that run judged and applied it). Goal: kept in >= 80% of runs.
- ``relabel-clean`` (harmful): the same on the data as it is. Cleaning a clean set drops good
  rows. Goal: kept in <= 5%.
- ``finetune`` (a true gain on the drug reviews): ``clean, split, baseline, train, evaluate``;
  the train step judged against the TF-IDF baseline; the effect is the shipped model's test
  macro-F1 minus the baseline's. Goal: kept in >= 80%.
- ``reseed`` (null): the fine-tune of seed s judged against the same fine-tune with seed s+1
  (a benchmark step after train); nothing should be kept: goal <= 10%.

    python benchmarks/gate_power.py --scenarios relabel-30,relabel-clean --seeds 5 --out /tmp/gp
    python benchmarks/gate_power.py --data trec_questions --train-rows 600 --test-rows 1000 ...

``--data`` is ``drug_reviews`` (examples/, the sealed test file as it is; the seed draws the
validation split and the folds) or a set of benchmarks/public_data.py (the seed also draws a
train/test split of ``--train-rows`` / ``--test-rows``). Results are appended to OUT/results.jsonl
(one line per scenario, seed and mode; a rerun skips what is there) and summarized at the end.
Not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ratchet.config import RunConfig, apply_overrides
from ratchet.evaluation.metrics import score
from ratchet.fsutil import read_json
from ratchet.pipeline import Pipeline
from ratchet.step import Candidate, Skipped, StepContext
from ratchet.step_builders import build_steps

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT.parent / "examples" / "drug_reviews"
MODES = {"holdout": "gate.folds=holdout", "crossfit": "gate.folds=5"}
SCENARIOS = ("relabel-20", "relabel-30", "relabel-clean", "finetune", "reseed")
GOALS = {"relabel-20": ">= 0.8", "relabel-30": ">= 0.8", "relabel-clean": "<= 0.05", "finetune": ">= 0.8",
         "reseed": "<= 0.1"}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--modes", default="holdout,crossfit")
    parser.add_argument("--data", default="drug_reviews", help="drug_reviews, or a data set of public_data.py")
    parser.add_argument("--train-rows", type=int, default=600, help="public data: labeled rows given to ratchet")
    parser.add_argument("--test-rows", type=int, default=1000, help="public data: sealed test rows")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. train.frozen_layers=4")
    return parser.parse_args(argv)


# -- data ------------------------------------------------------------------------------------------------------------
def labeled_data(args: argparse.Namespace, seed: int, folder: Path) -> tuple[Path, Path]:
    """(train file, test file) for this seed: text and label columns."""
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "train.csv", folder / "test.csv"
    if train.is_file() and test.is_file():
        return train, test
    if args.data == "drug_reviews":
        for name, path in (("train", train), ("test", test)):
            frame = pd.read_csv(EXAMPLES / f"{name}.tsv", sep="\t")
            frame.rename(columns={"review": "text", "rating": "label"})[["text", "label"]].to_csv(path, index=False)
        return train, test
    sys.path.insert(0, str(ROOT))
    import public_data

    rows = public_data.load(args.data)
    tr, te = public_data.split(rows, test_rows=args.test_rows, train_rows=args.train_rows, seed=seed)
    tr.to_csv(train, index=False)
    te.to_csv(test, index=False)
    return train, test


def flipped(train: Path, rate: float, seed: int, out: Path) -> Path:
    """A copy of ``train`` with ``rate`` of its labels moved to another class at random."""
    frame = pd.read_csv(train)
    label = "label"
    rng = np.random.default_rng(seed)
    classes = sorted(frame[label].astype(str).unique())
    rows = rng.choice(len(frame), int(rate * len(frame)), replace=False)
    values = frame[label].astype(str).to_numpy().copy()
    for row in rows:
        values[row] = rng.choice([c for c in classes if c != values[row]])
    frame[label] = values
    frame.to_csv(out, index=False)
    return out


# -- the null scenario's step ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReseedParams:
    model: str = "default"
    overrides: tuple[str, ...] = field(default_factory=tuple)


class Reseed:
    """Gated: the shipped fine-tune with the next seed, judged against the same recipe with the run's seed."""

    name: ClassVar[str] = "reseed"
    requires: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels", "model.current")
    optional: ClassVar[tuple[str, ...]] = ("data.folds",)
    provides: ClassVar[tuple[str, ...]] = ()
    gated: ClassVar[bool] = True
    budget_share: ClassVar[float] = 0.0

    def __init__(self, params: ReseedParams, train_params: Any) -> None:
        self.params, self._train = params, train_params

    def run(self, ctx: StepContext) -> Candidate | Skipped:
        crossfit = ctx.crossfit
        first = crossfit.transformer(self.params.model, self._train, seed=ctx.seed, name="seed-a")
        other = crossfit.transformer(self.params.model, self._train, seed=ctx.seed + 1, name="seed-b")
        return Candidate(probs=other.probs, reference=first.probs, reference_name=f"seed {ctx.seed}")


# -- one run ---------------------------------------------------------------------------------------------------------
def run_config(data: Path, test: Path, out: Path, steps: tuple[str, ...], mode: str, seed: int, extra: list[str]):
    base = RunConfig(data=str(data), test=str(test), out=str(out), steps=steps, seed=seed, overwrite=True)
    return apply_overrides(base, [MODES[mode], *extra])


def test_macro_f1_of_linear(rows: pd.DataFrame, test: pd.DataFrame, labels: list) -> float:
    from ratchet.models.linear import LinearTextModel

    index = {str(label): i for i, label in enumerate(labels)}
    y = np.array([index[str(v)] for v in rows["label"]])
    model = LinearTextModel().fit(rows["text"].tolist(), y, len(labels))
    truth = np.array([index[str(v)] for v in test["label"]])
    return float(score("macro_f1", truth, model.predict_proba(test["text"].tolist())))


def relabel_outcome(run: Path, test_file: Path) -> float:
    """Test macro-F1 of the baseline learner on the rows the run would train on minus on the uncleaned rows."""
    from ratchet.crossfit import cleaning
    from ratchet.data.frames import Split

    labels = read_json(run / "data" / "labels.json")["labels"]
    train, valid = pd.read_parquet(run / "data" / "train.parquet"), pd.read_parquet(run / "data" / "valid.parquet")
    test = pd.read_parquet(run / "data" / "test.parquet")
    step = next(p for p in sorted((run / "steps").iterdir()) if p.name.endswith("-relabel"))
    noisy = pd.concat([train, valid], ignore_index=True) if (step / "cleaning.json").is_file() else train
    before = test_macro_f1_of_linear(noisy, test, labels)
    if (step / "cleaning.json").is_file():  # cross-fitted: the pool-wide changes the refit applies
        changes = cleaning.fold_entry(cleaning.load(step / "cleaning.json"), None)
        pool = Split(noisy["text"].tolist(), None, noisy["label_id"].to_numpy(), None)
        rows = np.arange(len(pool))
        kept = cleaning.apply(pool, rows, changes)
        cleaned = pd.DataFrame({"text": kept.texts, "label": [labels[i] for i in kept.label_ids]})
    else:
        cleaned = pd.read_parquet(step / "train.parquet")
    return test_macro_f1_of_linear(cleaned, test, labels) - before


def one(args: argparse.Namespace, scenario: str, seed: int, mode: str) -> dict[str, Any]:
    root = args.out / scenario / f"seed{seed}"
    train, test = labeled_data(args, seed, args.out / "data" / f"seed{seed}")
    extra = list(args.overrides)
    root.mkdir(parents=True, exist_ok=True)
    if scenario.startswith("relabel"):
        rate = {"relabel-20": 0.2, "relabel-30": 0.3, "relabel-clean": 0.0}[scenario]
        data = flipped(train, rate, seed, root / "train.csv") if rate else train
        steps = ("clean", "split", "baseline", "relabel")
        config = run_config(data, test, root / mode, steps, mode, seed, extra)
        gated = "relabel"
        pipeline = Pipeline(config, build_steps(config), preflight=False)
    else:
        # finetune and reseed share one run: train is judged against the baseline, then the same fine-tune
        # with the next seed against it (the first seed's folds come back from the run's fit cache).
        root = args.out / "finetune" / f"seed{seed}"
        steps = ("clean", "split", "baseline", "train", "evaluate")
        config = run_config(train, test, root / mode, steps, mode, seed, extra)
        built = build_steps(config)
        built = [*built[:-1], Reseed(ReseedParams(config.models[0]), config.train), built[-1]]
        gated = "reseed" if scenario == "reseed" else "train"
        if (root / mode / "metrics.json").is_file():  # the other scenario of the pair ran it already
            config = apply_overrides(config, ["resume=true", "overwrite=false"])
        pipeline = Pipeline(config, built, preflight=False)
    started = time.time()
    result = pipeline.run()
    entry = next(e for e in result.ledger if e["step"] == gated)
    kept = entry["status"] == "kept"
    # What the change would have done to the sealed test had it been applied, kept or not: whether the
    # scenario's "true gain" or "harmful" premise holds on this seed (for the fine-tune only when kept:
    # a rejected fine-tune is never refit).
    candidate = None
    if scenario.startswith("relabel") and entry["status"] != "skipped":
        candidate = relabel_outcome(result.run_dir, test)
    elif scenario == "finetune" and kept:
        candidate = finetune_effect(result.run_dir)
    effect = candidate if kept and candidate is not None else 0.0
    return {
        "scenario": scenario, "seed": seed, "mode": mode, "kept": kept, "status": entry["status"],
        "gain": entry.get("gain"), "p_better": entry.get("p_better"), "t_p_value": entry.get("t_p_value"),
        "rows": entry.get("rows"), "folds": entry.get("folds"), "test_effect": effect,
        "candidate_test_effect": candidate,
        "seconds": time.time() - started, "test_macro_f1": (result.metrics.get("test") or {}).get("macro_f1"),
    }  # fmt: skip


def finetune_effect(run: Path) -> float:
    """The shipped model's test macro-F1 minus the baseline model's, on the sealed test."""
    from ratchet.data.frames import read_split
    from ratchet.predictor import load_predictor

    test = read_split(run / "data" / "test.parquet")
    baseline = next(p for p in sorted((run / "steps").iterdir()) if p.name.endswith("-baseline")) / "model"
    predictor = load_predictor(baseline)
    probs = predictor.predict_probs(test.texts, test.pairs)
    base = float(score("macro_f1", test.label_ids, np.eye(probs.shape[1])[predictor.predict_ids(probs)]))
    return float(read_json(run / "metrics.json")["test"]["macro_f1"]) - base


def kept_by(row: dict[str, Any], fold_test: bool, confidence: float = 0.8) -> bool:
    """Would the rule have kept this run's candidate? From its recorded gain, P(better) and fold-test p: the row
    bootstrap alone (gate.fold_test=recorded), or with the fold test (required; holdout runs have none)."""
    if row.get("gain") is None or row.get("p_better") is None:
        return False
    rows_say = row["gain"] > 0 and row["p_better"] >= confidence
    if not fold_test or row.get("t_p_value") is None:
        return rows_say
    return rows_say and row["t_p_value"] <= 1.0 - confidence


def summarize(results: list[dict[str, Any]]) -> list[str]:
    """One line per scenario and mode. "kept" is what the runs decided (under the rule of the code that ran
    them); "rows" and "+folds" recompute the decision from the recorded figures under each rule (default
    confidence 0.8), so results of either code version compare."""
    lines = ["scenario        mode      runs  kept   rows  +folds  goal     test effect: of what ships  of the change  "
             "mean seconds"]  # fmt: skip
    for scenario in dict.fromkeys(r["scenario"] for r in results):
        for mode in dict.fromkeys(r["mode"] for r in results):
            rows = [r for r in results if r["scenario"] == scenario and r["mode"] == mode]
            if not rows:
                continue
            kept = np.mean([r["kept"] for r in rows])
            by_rows, by_folds = (np.mean([kept_by(r, fold_test) for r in rows]) for fold_test in (False, True))
            effect = np.mean([r["test_effect"] for r in rows])
            seconds = np.mean([r["seconds"] for r in rows])
            changes = [r["candidate_test_effect"] for r in rows if r.get("candidate_test_effect") is not None]
            change = f"{np.mean(changes):+.4f} ({len(changes)})" if changes else "-"
            lines.append(f"{scenario:15} {mode:9} {len(rows):4d}  {kept:4.0%}  {by_rows:4.0%}  {by_folds:5.0%}  "
                         f"{GOALS.get(scenario, ''):8} "
                         f"{effect:+.4f}{'':16}{change:15}{seconds:8.0f}")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    have = {(r["scenario"], r["seed"], r["mode"]) for r in done}
    for scenario in args.scenarios.split(","):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for mode in args.modes.split(","):
                if (scenario, seed, mode) in have:
                    continue
                row = one(args, scenario, seed, mode)
                done.append(row)
                with log.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    for line in summarize(done):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
