"""Long documents: the chunk step (windows, pooled per text) against plain truncation, default model, same data.

Data: a public long-document set from public_data.py (``news_articles``: English news articles, label =
the outlet, Apache-2.0 package licence, source and citation in public_data.py; ``bbc_news``, MIT; or
``newsgroups20``, Usenet posts of 20 groups, AGPL-3.0 package licence).
Each seed draws a train and a test sample in which ``--long-share`` of the texts (a third by default)
are longer than ``--max-length`` tokens of the default model's tokenizer and the rest fit, per class as
far as the class allows (the sample, not the corpus, sets the share: the corpus has more long texts).
The pipeline runs clean, split, train, chunk, evaluate on the train sample (holdout judging for cost;
the override ``gate.folds=auto`` judges as a run of this size does by default, every train+valid row out
of fold over 5 folds, 4-6x the time); then both models it trained, train's (each text cut to its
first max_length tokens) and chunk's (windows of max_length tokens, pooled by the aggregation chunk
chose on the valid rows; a cross-fitted run refits it only where chunk is kept), predict the same test
sample, and the report gives both test macro-F1s, the gain with a paired bootstrap interval, the gain on
the long test texts alone, and what the ledger decided. "routed" is what a routed model predicts
(``chunk.route``: the truncated model on texts that fit in max_length tokens, the windows on longer
ones), "mixed" the mean of both models' probabilities on every text and "routed_mixed" on the long texts
only (``chunk.mix``), all computed from the two models' test probabilities; when chunk shipped such a
two-model folder, it predicts the test sample too (``routed_model``) and ``routed_folder_agrees`` is the
share of its decisions equal to the computed ones. ``shipped_test_macro_f1`` is what the pipeline
shipped, as its evaluate step scored it.
``--seed-control`` fits the truncated fine-tune once more with the next seed (the ensemble step, in
OUT/control: same samples, split and recipe) and reports ``truncation_2seeds``, the two seeds' mean
probabilities: how much of a mixed option's gain any average of two fine-tunes would give.
``--steps-control`` fits the truncated fine-tune once more (in OUT/steps-control: same samples, split and
recipe) for ``--epochs`` times the windowed fit's optimizer steps per epoch over the truncated fit's, so it
takes as many optimizer steps as the windowed model, and reports ``truncation_equal_steps`` and the
windows' gain over it: how much of the windows' gain is their extra training rows rather than the text
past max_length.

With the override ``chunk.cut=head_tail`` chunk's candidate reads each long text's head and tail in one row
(chunking/windows.py) instead of windows; the report's "chunk" (and routed, mixed) is then that model.
With ``chunk.loss=document`` the windowed fine-tune learns from each text's pooled windows (the loss on their
mean logits: training.pooling) instead of from each window alone.

Usage (logs and long_documents.json in the --out folder). On 2 CPU cores shared with other jobs,
the small setting below took about 20 minutes (train 333 s, chunk 701 s, predicting 200 s);
``--compare-only`` redoes only the test predictions of a finished run, and ``--from-run OUT0`` copies a
finished run of the same seed and resumes it with other overrides (``chunk.mix=[1,0.5]``, or
``gate.confidence=0 gate.min_gain=-1`` to ship chunk's choice whatever the rule says, so that the windowed
model is refit and scored on the test): clean, split and train are kept, and chunk reads its fold fits back
from the run's fit cache, so only its choice and refit run again:

    nice -n 10 python benchmarks/long_documents.py --out /work/bench/chunk/news-s0 --seed 0 \
        --train-rows 120 --test-rows 150 --epochs 3 --max-long-tokens 640
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from long_document_samples import (  # this folder is on sys.path when run as a script
    add_sample_arguments,
    draw_samples,
    macro_f1,
    paired_gain,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_sample_arguments(parser)
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="the run in --out is finished: only predict the test sample with both of its models",
    )
    parser.add_argument(
        "--seed-control",
        action="store_true",
        help="also fit the truncated fine-tune with a second seed (in OUT/control, same samples and split) and "
        "score the two seeds' mean: what averaging two fine-tunes buys without windows",
    )
    parser.add_argument(
        "--steps-control",
        action="store_true",
        help="also fit the truncated fine-tune for as many optimizer steps as the windowed model took (in "
        "OUT/steps-control, same samples and split)",
    )
    parser.add_argument(
        "--from-run",
        type=Path,
        default=None,
        help="a finished OUT of the same seed and sample flags: copy its run and resume it with this call's "
        "overrides (steps whose inputs are unchanged are kept; chunk reads its fold fits from the run's cache)",
    )
    parser.add_argument("overrides", nargs="*", help="extra key=value config overrides")
    args = parser.parse_args(argv)

    from ratchet.config import RunConfig, apply_overrides
    from ratchet.fsutil import read_json
    from ratchet.pipeline import Pipeline

    started = time.time()
    train, test, lengths, corpus_share = draw_samples(args)
    args.out.mkdir(parents=True, exist_ok=True)
    run = args.out / "run"

    def pipeline(out: Path, steps: tuple[str, ...], *extra: str, resume: bool = False) -> list:
        config = RunConfig(data=str(args.out / "train.csv"), test=str(args.out / "test.csv"), out=str(out),
                           steps=steps, seed=args.seed, overwrite=not resume, resume=resume)  # fmt: skip
        config = apply_overrides(config, [f"train.max_length={args.max_length}", f"train.epochs={args.epochs}",
                                          "gate.folds=holdout", *args.overrides, *extra])  # fmt: skip
        return Pipeline.from_config(config).run().ledger

    def check_same_draw(folder: Path) -> None:
        """The same seed draws the same samples: a finished OUT read back must hold this draw."""
        assert pd.read_csv(folder / "test.csv")["text"].tolist() == test["text"].tolist()

    if args.compare_only:
        check_same_draw(args.out)
        entries = read_json(run / "ledger.json")
    else:
        train.to_csv(args.out / "train.csv", index=False)
        test.to_csv(args.out / "test.csv", index=False)
        if args.from_run is not None:
            check_same_draw(args.from_run)
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(args.from_run / "run", run)
            for manifest in run.glob("steps/*-chunk/manifest.json"):
                manifest.unlink()  # chunk decides again under this call's overrides (a gate setting, say)
        steps = ("clean", "split", "train", "chunk", "evaluate")
        entries = pipeline(run, steps, resume=args.from_run is not None)
    if args.seed_control and not (args.out / "control" / "run" / "ledger.json").is_file():
        # The same recipe, samples and split; ensemble fits the truncated fine-tune again with seed + 1.
        pipeline(args.out / "control" / "run", ("clean", "split", "train", "ensemble", "evaluate"), "search.seeds=2")
    if args.steps_control and not (args.out / "steps-control" / "run" / "ledger.json").is_file():
        # Windows multiply the training rows: the same recipe on truncated texts for as many optimizer steps.
        pipeline(args.out / "steps-control" / "run", ("clean", "split", "train", "evaluate"),
                 f"train.epochs={equal_steps_epochs(args.epochs, run)}")  # fmt: skip
    return compare(args, run, train, test, lengths, corpus_share, entries, started)


def equal_steps_epochs(epochs: float, run: Path) -> float:
    """``epochs`` scaled by the windowed fit's optimizer steps per epoch over the truncated fit's (their step
    manifests' histories): batches hold a token budget, so the step ratio, not windows per text, is what to match."""
    from ratchet.fsutil import read_json

    def steps_per_epoch(step: str) -> float:
        manifest = next(iter(sorted(run.glob(f"steps/*-{step}/manifest.json"))), None)
        history = read_json(manifest).get("metrics", {}).get("history") if manifest else None
        if not history:
            raise SystemExit(f"--steps-control needs {step}'s training history: {step} did not fine-tune in this run")
        return history[-1]["step"] / history[-1]["epoch"]

    return round(epochs * steps_per_epoch("chunk") / steps_per_epoch("train"), 2)


def compare(args, run: Path, train, test, lengths, corpus_share: float, entries: list, started: float) -> int:
    """Both models of the finished run on the test sample: macro-F1, paired gain, long and short texts apart."""
    from ratchet.fsutil import read_json
    from ratchet.predictor import load_predictor

    ledger = {entry["step"]: entry for entry in entries}

    labels = read_json(run / "steps" / "03-train" / "model" / "labels.json")["labels"]
    index = {str(label): i for i, label in enumerate(labels)}
    truth = np.array([index[str(label)] for label in test["label"]])
    test_long = lengths[test.index.to_numpy()] > args.max_length
    probs, seconds = {}, {}
    models = {
        "truncation": run / "steps" / "03-train" / "model",
        "chunk": run / "steps" / "04-chunk" / "model",
        "routed_model": run / "steps" / "04-chunk" / "routed",
    }  # the routed folder, when chunk chose routing or mixing
    for name, folder in models.items():
        if not (folder / "ratchet.json").is_file():
            continue
        t0 = time.time()
        probs[name] = load_predictor(folder).predict_probs(test["text"].tolist())
        seconds[name] = round(time.time() - t0, 1)
    k = len(labels)
    chunk_entry = ledger.get("chunk", {})
    report = {
        "data": args.data, "seed": args.seed, "max_length": args.max_length, "epochs": args.epochs,
        "max_long_tokens": args.max_long_tokens, "compare_only": args.compare_only, "overrides": args.overrides,
        "train_rows": len(train), "test_rows": len(test),
        "corpus_long_share": round(corpus_share, 3),
        "train_long_share": round(float((lengths[train.index.to_numpy()] > args.max_length).mean()), 3),
        "test_long_share": round(float(test_long.mean()), 3),
        "chunk_ledger": {key: chunk_entry.get(key) for key in
                         ("status", "before", "after", "gain", "ci", "p_better", "note", "chunk", "seconds")},
        "train_seconds": round(ledger["train"]["seconds"], 1),
        "predict_seconds": seconds,
        # What the pipeline shipped (chunk's choice where kept, else the truncated fine-tune), as evaluate scored it.
        "shipped_test_macro_f1": round(read_json(run / "metrics.json")["test"]["macro_f1"], 4),
        "wall_seconds": round(time.time() - started, 1),
    }  # fmt: skip
    control = args.out / "control" / "run" / "steps"
    if args.seed_control and (control / "04-ensemble").is_dir():
        texts = test["text"].tolist()
        first = load_predictor(control / "03-train" / "model").predict_probs(texts)
        second = load_predictor(control / "04-ensemble" / "seeds" / f"seed-{args.seed + 1}").predict_probs(texts)
        probs["truncation_2seeds"] = (first + second) / 2
        # The control's first seed is the run's own truncated fine-tune, fitted again: the same decisions expected.
        report["control_first_seed_agrees"] = float((first.argmax(1) == probs["truncation"].argmax(1)).mean())
    equal_steps = args.out / "steps-control" / "run"
    if args.steps_control and (equal_steps / "ledger.json").is_file():
        probs["truncation_equal_steps"] = load_predictor(equal_steps / "steps" / "03-train" / "model").predict_probs(
            test["text"].tolist()
        )
        train_entry = {entry["step"]: entry for entry in read_json(equal_steps / "ledger.json")}["train"]
        report["equal_steps"] = {"epochs": equal_steps_epochs(args.epochs, run),
                                 "train_seconds": round(train_entry["seconds"], 1)}  # fmt: skip
    routed_model = probs.pop("routed_model", None)
    preds = {name: p.argmax(axis=1) for name, p in probs.items()}
    if "truncation" in preds and "chunk" in preds:
        # The two-model options chunk judges (chunking.options), computed from both models' test probabilities:
        # routed (texts that fit read by the truncated model), mixed 0.5 on every text, and on long texts only.
        from ratchet.models.routed import routed_probs

        truncated, windows, every_text = probs["truncation"], probs["chunk"], np.ones(len(test_long), dtype=bool)
        preds["routed"] = routed_probs(truncated, windows, test_long).argmax(axis=1)
        preds["mixed"] = routed_probs(truncated, windows, every_text, 0.5).argmax(axis=1)
        preds["routed_mixed"] = routed_probs(truncated, windows, test_long, 0.5).argmax(axis=1)
        if routed_model is not None:  # the folder chunk shipped predicts what its option computes to
            info = chunk_entry.get("chunk", {})
            mixed = float(info.get("long_weight", 1.0)) != 1.0
            option = ("routed_mixed" if mixed else "routed") if info.get("routed") else "mixed"
            report["routed_folder_option"] = option
            report["routed_folder_agrees"] = float((routed_model.argmax(axis=1) == preds[option]).mean())
        report["test_macro_f1"] = {name: round(macro_f1(truth, p, k), 4) for name, p in preds.items()}
        report["gains"] = {name: paired_gain(truth, preds[name], preds["truncation"], k, seed=args.seed)
                           for name in ("chunk", "routed", "mixed", "routed_mixed", "truncation_2seeds",
                                        "truncation_equal_steps") if name in preds}  # fmt: skip
        if "truncation_equal_steps" in preds:  # the windows against truncation trained as long
            report["gains"]["chunk_vs_equal_steps"] = paired_gain(
                truth, preds["chunk"], preds["truncation_equal_steps"], k, seed=args.seed
            )
        report["gain"], report["routed_gain"] = report["gains"]["chunk"], report["gains"]["routed"]
        report["long_test_macro_f1"] = {name: round(macro_f1(truth[test_long], p[test_long], k), 4)
                                        for name, p in preds.items()}  # fmt: skip
        report["short_test_macro_f1"] = {name: round(macro_f1(truth[~test_long], p[~test_long], k), 4)
                                         for name, p in preds.items()}  # fmt: skip
    else:
        report["test_macro_f1"] = {name: round(macro_f1(truth, p, k), 4) for name, p in preds.items()}
    (args.out / "long_documents.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
