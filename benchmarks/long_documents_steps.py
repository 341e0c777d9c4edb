"""Long documents at equal optimizer steps: do windows win by what they read past max_length, or by their extra rows?

A text longer than max_length tokens makes several windows, so a windowed fine-tune of the same epochs takes
more optimizer steps than the truncated one (1.8x on the 360-text news draws). This benchmark fits, on every
train text of a seed's draw of ``long_documents.py`` (the same samples, no validation rows, the final weights
as a cross-fitted run's refit ships them), with the default model and the pipeline's default recipe:

- ``truncation``: each text cut to its first max_length tokens, ``--epochs`` epochs;
- ``windows``: windows of max_length tokens, each with its text's label, ``--epochs`` epochs, pooled per text
  by mean and by max at prediction;
- ``truncation_equal_steps``: truncation again, for as many optimizer steps as the windowed fit took
  (``--epochs`` times the step ratio of the two fits above);

then scores all on the seed's sealed test sample (macro-F1, paired bootstrap gains, long and short texts
apart). No rule, no folds: the three models only. On 2 CPU cores the 360-text setting took 669-1,942 s a
seed (the longest while another benchmark shared the cores):

    python benchmarks/long_documents_steps.py --out DIR --seed 0 --max-length 256 --train-rows 360 \\
        --test-rows 300 --epochs 5 --max-long-tokens 768
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from long_document_samples import add_sample_arguments, draw_samples, macro_f1, paired_gain  # on sys.path


def fit(data, params, out: Path, name: str, seed: int, windowing: dict | None = None) -> tuple[Path, int, float]:
    """One fine-tune on every row of ``data``, final weights, saved to out/name; -> (folder, steps, seconds)."""
    from ratchet.finetuning.finetune import finetune
    from ratchet.models.recipe_meta import KEY, recipe

    meta = {"kind": "transformer", "backbone": "default", "max_length": params.max_length, "text_pair": False,
            KEY: recipe("default", params, seed), **(windowing or {})}  # fmt: skip
    result = finetune("default", data, params, device="cpu", seed=seed, checkpoint_dir=out / f"checkpoint-{name}",
                      deadline=None, save_to=out / name, save_meta=meta, select_best=False)  # fmt: skip
    return out / name, int(result.steps), round(float(result.seconds), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_sample_arguments(parser)
    args = parser.parse_args(argv)

    from ratchet.chunking.data import window_task_data
    from ratchet.chunking.params import ChunkParams
    from ratchet.chunking.predict import windowing_meta
    from ratchet.config import RunConfig, apply_overrides
    from ratchet.data.coverage import load_tokenizer
    from ratchet.data.frames import Split
    from ratchet.finetuning.finetune import TaskData
    from ratchet.fsutil import read_json, write_json
    from ratchet.predictor import load_predictor

    started = time.time()
    train, test, lengths, _ = draw_samples(args)
    args.out.mkdir(parents=True, exist_ok=True)
    labels = sorted(str(label) for label in train["label"].unique())
    index = {label: i for i, label in enumerate(labels)}

    def split(frame) -> Split:
        return Split(frame["text"].tolist(), None, np.array([index[str(v)] for v in frame["label"]]), None)

    data = TaskData(split(train), split(train.iloc[:0]), labels)
    config = RunConfig(data="unused.csv", out=str(args.out / "unused"))
    params = apply_overrides(config, [f"train.max_length={args.max_length}", f"train.epochs={args.epochs}"]).train
    stride = ChunkParams().stride
    windowed = window_task_data(data, load_tokenizer("default"), "default", args.max_length, stride)
    models, steps, seconds = {}, {}, {}
    for name, task, recipe_params, windowing in (
        ("truncation", data, params, None),
        ("windows", windowed, params, windowing_meta(stride, "mean", args.max_length)),
    ):
        models[name], steps[name], seconds[name] = fit(task, recipe_params, args.out, name, args.seed, windowing)
    equal = dataclasses.replace(params, epochs=round(args.epochs * steps["windows"] / steps["truncation"], 3))
    name = "truncation_equal_steps"
    models[name], steps[name], seconds[name] = fit(data, equal, args.out, name, args.seed)

    texts = test["text"].tolist()
    probs = {name: load_predictor(folder).predict_probs(texts) for name, folder in models.items()}
    meta_file = models["windows"] / "ratchet.json"
    meta = read_json(meta_file)
    meta["windowing"]["aggregation"] = "max"  # the same windows pooled by their most confident one
    write_json(meta_file, meta)
    probs["windows_max"] = load_predictor(models["windows"]).predict_probs(texts)
    probs["windows_mean"] = probs.pop("windows")

    truth = np.array([index[str(v)] for v in test["label"]])
    long = lengths[test.index.to_numpy()] > args.max_length
    preds = {name: p.argmax(axis=1) for name, p in probs.items()}
    k = len(labels)
    report = {
        "data": args.data, "seed": args.seed, "max_length": args.max_length, "epochs": args.epochs,
        "equal_steps_epochs": equal.epochs, "train_rows": len(train), "test_rows": len(test),
        "windows": {"texts": len(train), "windows": len(windowed.train)}, "steps": steps, "seconds": seconds,
        "test_macro_f1": {name: round(macro_f1(truth, p, k), 4) for name, p in preds.items()},
        "long_test_macro_f1": {name: round(macro_f1(truth[long], p[long], k), 4) for name, p in preds.items()},
        "short_test_macro_f1": {name: round(macro_f1(truth[~long], p[~long], k), 4) for name, p in preds.items()},
        "gains_over_truncation": {name: paired_gain(truth, preds[name], preds["truncation"], k, seed=args.seed)
                                  for name in preds if name != "truncation"},
        "gains_over_equal_steps": {name: paired_gain(truth, preds[name], preds["truncation_equal_steps"], k,
                                                     seed=args.seed) for name in ("windows_mean", "windows_max")},
        "wall_seconds": round(time.time() - started, 1),
    }  # fmt: skip
    (args.out / "long_documents_steps.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
