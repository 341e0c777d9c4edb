"""Label noise: does the relabel step find flipped labels, and does cleaning buy back test accuracy?

For each noise rate, a share of the training labels of the drug reviews is flipped to
another class at random (seeded), and ratchet runs ``clean, split, baseline, relabel``
with the untouched examples/drug_reviews/test.tsv as the sealed test file. By default the
flips hit the training split only (a benchmark-only step after ``split``), so validation
stays clean, as a curated validation set would; ``--noise-in file`` flips labels in the
whole labeled file instead (examples/drug_reviews/train.tsv, the pool that train and
validation are split from), so the ratchet rule judges on noisy validation labels too.
The script reports:

- detection: precision and recall of the flagged training rows against the flipped ones
  (rows flagged at 0% noise are the data's own ambiguous or mislabeled reviews);
- the ratchet rule's verdict on validation (kept / rejected, gain, P(better));
- test macro-F1 and accuracy of one learner (logistic regression on frozen default-model
  embeddings, class-balanced) trained on the noisy training split ("noisy"), on the
  cleaned one ("cleaned"), and on what the pipeline keeps ("gated": cleaned if kept).
  With ``--finetune`` the learner is instead the pipeline's own fine-tuned model
  (``train, evaluate`` after the steps above, with and without ``relabel``): slow on a CPU.

    python benchmarks/label_noise.py                       # rates 0, 0.1, 0.2, 0.3 x 3 seeds
    python benchmarks/label_noise.py --rates 0.2 --seeds 1 # one quick run
    python benchmarks/label_noise.py --scale 200000        # clean, split, relabel on 200k synthetic rows

``--scale N`` builds N synthetic reviews whose words are drawn from the drug reviews' per-class
word frequencies (so the label is learnable, not trivially), flips 10% of the labels and runs
``clean, split, relabel`` (TF-IDF features: what ``auto`` falls back to on a CPU at this size),
reporting each step's time, the peak RSS and the detection figures.

Not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ratchet.config import RunConfig, apply_overrides
from ratchet.data.clean import normalize_text
from ratchet.fsutil import read_json, write_json
from ratchet.pipeline import Pipeline
from ratchet.step import Completed, StepContext
from ratchet.step_builders import build_steps

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "drug_reviews"
LABELS = ["negative", "neutral", "positive"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="0,0.1,0.2,0.3", help="comma-separated shares of labels to flip")
    parser.add_argument("--seeds", type=int, default=3, help="repetitions per rate (noise, split and folds seeds)")
    parser.add_argument("--policy", default="drop", choices=["drop", "relabel", "weight"])
    parser.add_argument("--features", default="auto", choices=["auto", "embeddings", "tfidf"])
    parser.add_argument("--gate-metric", default="neg_log_loss", help="relabel.gate_metric of the runs")
    parser.add_argument("--finetune", action="store_true", help="score the fine-tuned pipeline model instead")
    parser.add_argument("--epochs", type=float, default=3.0, help="fine-tuning epochs with --finetune")
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temp folder)")
    parser.add_argument("--scale", type=int, default=0, help="rows of a synthetic scale run instead")
    parser.add_argument(
        "--noise-in", default="train", choices=["train", "file"],
        help="train: flip labels of the training split only (validation stays clean); "
        "file: flip labels in the whole labeled file (validation gets noisy too)",
    )  # fmt: skip
    return parser.parse_args()


def flip_labels(pool: pd.DataFrame, rate: float, seed: int) -> tuple[pd.DataFrame, set[str]]:
    """Flip ``rate`` of the labels to one of the other classes; returns the frame and the flipped texts."""
    rng = np.random.default_rng(1000 + seed)
    noisy = pool.copy()
    rows = rng.choice(len(pool), round(rate * len(pool)), replace=False)
    for row in rows:
        others = [label for label in LABELS if label != noisy.at[row, "rating"]]
        noisy.at[row, "rating"] = others[rng.integers(len(others))]
    return noisy, {normalize_text(t) for t in pool["review"].iloc[rows]}


class EmbeddingLearner:
    """Class-balanced logistic regression on frozen default-model embeddings (computed once per text)."""

    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = {}

    def vectors(self, texts: list[str]) -> np.ndarray:
        from ratchet.relabel.features import embed

        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            for text, vector in zip(missing, embed("default", missing, max_length=256), strict=True):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])

    def score(self, train: pd.DataFrame, test: pd.DataFrame, C: float) -> tuple[float, float]:
        from sklearn.metrics import accuracy_score, f1_score

        from ratchet.relabel.oof import fit_predict

        weights = train["weight"].to_numpy(np.float32) if "weight" in train else None
        probs = fit_predict(
            self.vectors(train["text"].tolist()), train["label_id"].to_numpy(), self.vectors(test["text"].tolist()),
            len(LABELS), C=C, weights=weights, balanced=True,
        )  # fmt: skip
        pred = probs.argmax(1)
        y = test["label_id"].to_numpy()
        return float(f1_score(y, pred, average="macro")), float(accuracy_score(y, pred))


@dataclass(frozen=True)
class FlipParams:
    rate: float = 0.0
    seed: int = 0


class FlipTrainLabels:
    """Benchmark-only step after ``split``: flip a share of the *training split's* labels (validation
    stays clean, like a curated validation set); the flipped texts go to flipped.json."""

    name: ClassVar[str] = "flip"
    requires: ClassVar[tuple[str, ...]] = ("data.train",)
    provides: ClassVar[tuple[str, ...]] = ("data.train",)
    gated: ClassVar[bool] = False

    def __init__(self, params: FlipParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        train = pd.read_parquet(ctx.artifacts.get("data.train"))
        rng = np.random.default_rng(2000 + self.params.seed)
        rows = rng.choice(len(train), round(self.params.rate * len(train)), replace=False)
        ids = train["label_id"].to_numpy().copy()
        ids[rows] = (ids[rows] + rng.integers(1, len(LABELS), len(rows))) % len(LABELS)
        train = train.assign(label_id=ids, label=[LABELS[k] for k in ids])
        out = ctx.step_dir / "train.parquet"
        train.to_parquet(out, index=False)
        write_json(ctx.step_dir / "flipped.json", sorted(train["text"].iloc[rows]))
        return Completed(provides={"data.train": out}, metrics={"flipped": len(rows)})


def run_pipeline(
    data: Path, out: Path, seed: int, steps: tuple[str, ...], overrides: list[str], flip: FlipParams | None
) -> RunConfig:
    config = RunConfig(data=str(data), out=str(out), test=str(EXAMPLES / "test.tsv"), seed=seed, steps=steps)
    config = apply_overrides(config, overrides)
    built = build_steps(config)
    if flip is not None:
        built.insert(steps.index("split") + 1, FlipTrainLabels(flip))
    Pipeline(config, built, preflight=False).run()
    return config


def rule_by_metric(run: Path, relabel_dir: Path, seed: int) -> dict:
    """The ratchet rule's verdict on the same two gate-learner fits under macro-F1 and under log loss."""
    from ratchet.evaluation.significance import judge
    from ratchet.manifest import PROBS, REFERENCE_PROBS

    if not (relabel_dir / REFERENCE_PROBS).exists():
        return {}
    y = pd.read_parquet(run / "data" / "valid.parquet")["label_id"].to_numpy()
    reference, candidate = np.load(relabel_dir / REFERENCE_PROBS), np.load(relabel_dir / PROBS)
    out = {}
    for metric, short in (("macro_f1", "f1"), ("neg_log_loss", "ll")):
        decision = judge(
            y, reference, candidate, metric=metric, min_gain=0.0, confidence=0.8, n_bootstrap=2000, seed=seed
        )
        out[f"gain_{short}"] = decision.gain
        out[f"p_{short}"] = decision.p_better
        out[f"kept_{short}"] = int(decision.kept)
    return out


def one(args: argparse.Namespace, rate: float, seed: int, root: Path, learner: EmbeddingLearner) -> dict:
    pool = pd.read_csv(EXAMPLES / "train.tsv", sep="\t", dtype=str, keep_default_na=False)
    folder = root / f"noise{rate:g}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.tsv"
    flip = FlipParams(rate, seed) if args.noise_in == "train" else None
    if flip is None:
        pool, flipped = flip_labels(pool, rate, seed)
    pool.to_csv(data, sep="\t", index=False)
    overrides = [
        f"relabel.policy={args.policy}", f"relabel.features={args.features}", f"relabel.gate_metric={args.gate_metric}"
    ]  # fmt: skip
    steps = ("clean", "split", "baseline", "relabel")  # the presets' order
    tail = ("train", "evaluate") if args.finetune else ()
    if args.finetune:
        overrides += [f"train.epochs={args.epochs}"]
    started = time.time()
    run_pipeline(data, folder / "with", seed, steps + tail, overrides, flip)
    seconds = time.time() - started
    run = folder / "with"
    if flip is not None:
        flipped = set(read_json(run / "steps" / "03-flip" / "flipped.json"))
        train = pd.read_parquet(run / "steps" / "03-flip" / "train.parquet")
    else:
        train = pd.read_parquet(run / "data" / "train.parquet")
    relabel_dir = next((run / "steps").glob("*-relabel"))
    ledger = {entry["step"]: entry for entry in read_json(run / "ledger.json")}
    issues = pd.read_csv(run / "data" / "label_issues.csv", keep_default_na=False)
    in_train = flipped & set(train["text"])
    hits = len(set(issues["text"]) & in_train)
    relabel = ledger["relabel"]
    result = {
        "rate": rate,
        "seed": seed,
        "train_rows": len(train),
        "flipped_in_train": len(in_train),
        "flagged": len(issues),
        "precision": hits / len(issues) if len(issues) and in_train else float("nan"),
        "recall": hits / len(in_train) if in_train else float("nan"),
        "verdict": relabel["status"],
        "valid_gain": relabel.get("gain"),
        "p_better": relabel.get("p_better"),
        **rule_by_metric(run, relabel_dir, seed),
        "seconds": seconds,
    }
    if args.finetune:
        without = folder / "without"
        run_pipeline(data, without, seed, ("clean", "split", "baseline", *tail), overrides, flip)
        result["test_f1_gated"] = read_json(run / "metrics.json")["test"]["macro_f1"]
        result["test_f1_noisy"] = read_json(without / "metrics.json")["test"]["macro_f1"]
        return result
    test = pd.read_parquet(run / "data" / "test.parquet")
    manifest = read_json(relabel_dir / "manifest.json")
    C = manifest["metrics"]["oof"].get("C_embeddings", 0.1)
    cleaned_path = relabel_dir / "train.parquet"
    cleaned = pd.read_parquet(cleaned_path) if cleaned_path.exists() else train
    result["test_f1_noisy"], result["test_acc_noisy"] = learner.score(train, test, C)
    result["test_f1_cleaned"], result["test_acc_cleaned"] = learner.score(cleaned, test, C)
    kept = relabel["status"] == "kept"
    result["test_f1_gated"] = result["test_f1_cleaned"] if kept else result["test_f1_noisy"]
    result["test_acc_gated"] = result["test_acc_cleaned"] if kept else result["test_acc_noisy"]
    return result


def synthetic_reviews(rows: int, seed: int) -> pd.DataFrame:
    """Reviews drawn word by word from half global, half per-class word frequencies of the drug reviews."""
    from collections import Counter

    pool = pd.read_csv(EXAMPLES / "train.tsv", sep="\t", dtype=str, keep_default_na=False)
    texts = [normalize_text(t).split() for t in pool["review"]]
    overall = Counter(w for t in texts for w in t)
    vocab = list(overall)
    index = {w: i for i, w in enumerate(vocab)}
    rng = np.random.default_rng(seed)
    prior = pool["rating"].value_counts(normalize=True).reindex(LABELS).to_numpy()
    labels = rng.choice(len(LABELS), rows, p=prior)
    sizes = rng.choice([len(t) for t in texts], rows)
    base = np.array([overall[w] for w in vocab], dtype=np.float64)
    out = [""] * rows
    for k, label in enumerate(LABELS):
        own = np.zeros(len(vocab))
        for t, r in zip(texts, pool["rating"], strict=True):
            if r == label:
                for w in t:
                    own[index[w]] += 1
        p = 0.5 * base / base.sum() + 0.5 * own / own.sum()
        members = np.flatnonzero(labels == k)
        flat = rng.choice(len(vocab), int(sizes[members].sum()), p=p)
        bounds = np.r_[0, np.cumsum(sizes[members])]
        for j, row in enumerate(members):
            out[row] = " ".join(vocab[i] for i in flat[bounds[j] : bounds[j + 1]])
    return pd.DataFrame({"review": out, "rating": [LABELS[k] for k in labels]})


def scale_run(args: argparse.Namespace, root: Path) -> None:
    from ratchet.training.telemetry import RssSampler

    started = time.time()
    clean = synthetic_reviews(args.scale, seed=0)
    noisy, flipped = flip_labels(clean, 0.1, seed=0)
    data = root / "scale.csv"
    noisy.to_csv(data, index=False)
    print(f"scale: {args.scale} synthetic reviews, 10% of labels flipped, built in {time.time() - started:.0f}s")
    config = RunConfig(data=str(data), out=str(root / "scale-run"), steps=("clean", "split", "relabel"))
    config = apply_overrides(config, ["relabel.features=tfidf", f"relabel.policy={args.policy}"])
    with RssSampler() as rss:
        started = time.time()
        result = Pipeline(config, build_steps(config), preflight=False).run()
        seconds = time.time() - started
    for entry in result.ledger:
        print(f"  {entry['step']:<8} {entry['status']:<9} {entry['seconds']:7.1f}s")
    run = root / "scale-run"
    train = pd.read_parquet(run / "data" / "train.parquet", columns=["text"])
    issues = pd.read_csv(run / "data" / "label_issues.csv", keep_default_na=False, usecols=["text"])
    in_train = flipped & set(train["text"])
    hits = len(set(issues["text"]) & in_train)
    metrics = read_json(run / "steps" / "03-relabel" / "manifest.json")["metrics"]
    print(f"  total {seconds:.0f}s, peak RSS {rss.peak_mb:.0f} MB; relabel phases: {metrics['oof']}")
    print(f"  {len(train)} training rows, {len(in_train)} flipped; flagged {len(issues)}: "
          f"precision {hits / max(1, len(issues)):.3f}, recall {hits / max(1, len(in_train)):.3f}")  # fmt: skip


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="label-noise-"))
    root.mkdir(parents=True, exist_ok=True)
    if args.scale:
        scale_run(args, root)
        return
    learner = EmbeddingLearner()
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        for seed in range(args.seeds):
            result = one(args, rate, seed, root, learner)
            rows.append(result)
            line = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
            print(line, flush=True)
    table = pd.DataFrame(rows)
    numeric = table.drop(columns=["verdict", "seed"]).groupby("rate").mean()
    numeric["kept"] = table.groupby("rate")["verdict"].apply(lambda v: f"{(v == 'kept').sum()}/{len(v)}")
    pd.set_option("display.width", 200)
    print(f"\nmeans over {args.seeds} seeds (noise in {args.noise_in}, policy {args.policy}, runs in {root}):")
    print(numeric.round(4).to_string())


if __name__ == "__main__":
    main()
