"""Training throughput: ratchet's loop vs Hugging Face Trainer, side by side in one process.

Both train the same model (same seeded head), on the same pre-tokenized rows (same
truncation), for the same epochs with the same optimizer settings (AdamW, peak lr, linear
warmup + decay, weight decay, grad clipping, batch size) and one validation pass per epoch.
Tokens/s counts real (non-pad) tokens over the whole wall time of each training call,
evaluation included for both. Not a test: it asserts nothing about time.

    python benchmarks/throughput.py                        # CPU: default model, a few hundred rows
    python benchmarks/throughput.py --repeat 20 --epochs 1 # GPU: the drug reviews repeated
    python benchmarks/throughput.py --compile both         # ratchet with and without torch.compile
    python benchmarks/throughput.py --isolate --precision fp32 --trainer-sampling group_by_length --frozen both

``--frozen`` chooses ratchet's lower-layer freezing: ``default`` (TrainParams: two thirds of a
6+-layer encoder stay pretrained and their outputs are computed once, training.frozen), ``off``
(a full fine-tune, like Trainer's) or ``both``. Freezing changes what is learned, so compare
the macro-F1 columns too, not only tokens/s.

The last line is ``speedup X.XX``: ratchet's real tokens/s divided by Trainer's.
"""

from __future__ import annotations

import argparse
import gc
import html
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ratchet.config import TrainParams
from ratchet.models.load import load_for_classification
from ratchet.training.encode import Encoded, encode
from ratchet.training.inference import predict_probs
from ratchet.training.loop import fit
from ratchet.training.telemetry import RssSampler, cpu_has_native_bf16

DATA = Path(__file__).resolve().parent.parent / "examples" / "drug_reviews" / "train.tsv"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="name or path (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--data", default=str(DATA), help="TSV with review + rating columns")
    parser.add_argument("--rows", type=int, default=300, help="training rows taken from the file")
    parser.add_argument("--valid-rows", type=int, default=150, help="validation rows (after the training rows)")
    parser.add_argument("--repeat", type=int, default=1, help="repeat the training rows N times (GPU scale)")
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--warmup-share", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--compile", default="off", choices=["off", "on", "both"], help="ratchet torch.compile")
    parser.add_argument(
        "--precision", default=None, choices=["auto", "fp32", "bf16", "both"],
        help="ratchet autocast: auto = bf16 on CUDA, fp32 on CPU; both = an fp32 and a bf16 run "
        "(default: both on a CPU with native bf16, else auto)",
    )  # fmt: skip
    parser.add_argument("--trainer-bf16", action="store_true", help="Trainer with bf16 (always on CUDA)")
    parser.add_argument(
        "--trainer-sampling", default="random", choices=["random", "group_by_length"],
        help="Trainer's train_sampling_strategy (random = its default)",
    )  # fmt: skip
    parser.add_argument(
        "--frozen",
        default="default",
        choices=["default", "off", "both"],
        help="ratchet's frozen lower layers: TrainParams' default, off (full fine-tune), or both",
    )
    parser.add_argument("--predict", action="store_true", help="also compare inference with transformers.pipeline")
    parser.add_argument("--isolate", action="store_true", help="run each contender in a fresh child process")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load_rows(args: argparse.Namespace) -> tuple[list[str], np.ndarray, list[str], np.ndarray, list[str]]:
    frame = pd.read_csv(args.data, sep="\t")
    texts = [html.unescape(str(t)).strip().strip('"').strip() for t in frame["review"]]
    names = sorted(frame["rating"].astype(str).unique())
    labels = frame["rating"].astype(str).map({n: i for i, n in enumerate(names)}).to_numpy(np.int64)
    n = min(args.rows, len(texts) - args.valid_rows)
    train_texts, train_labels = texts[:n] * args.repeat, np.tile(labels[:n], args.repeat)
    valid_texts, valid_labels = texts[n : n + args.valid_rows], labels[n : n + args.valid_rows]
    return train_texts, train_labels, valid_texts, valid_labels, names


def fresh_model(args: argparse.Namespace, names: list[str], device: str):
    torch.manual_seed(args.seed)  # the same head initialization for every contender
    model, tokenizer = load_for_classification(args.model, names)
    return model.to(device), tokenizer


def scores(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    pred = probs.argmax(1)
    return float((pred == labels).mean()), float(f1_score(labels, pred, average="macro", zero_division=0))


def peak_cuda_mb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def reset_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_ratchet(
    args, names, device, train, train_labels, valid, valid_labels, compile_: bool, precision: str, frozen: str
) -> dict:
    model, tokenizer = fresh_model(args, names, device)
    layers = {"off": {"frozen_layers": 0}, "default": {}}[frozen]
    params = TrainParams(
        **layers,
        epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
        max_tokens=args.batch_size * args.max_length,  # the batch-size cap binds: same effective batch as Trainer
        max_length=args.max_length, warmup_share=args.warmup_share, weight_decay=args.weight_decay,
        grad_clip=1.0, patience=10**6, evals_per_epoch=1, checkpoint_every=10**9, compile=compile_,
    )  # fmt: skip
    reset_memory(device)
    curve: list[tuple[float, float]] = []  # (seconds since the start, validation macro-F1) per evaluation
    with tempfile.TemporaryDirectory() as ckpt, RssSampler() as rss:
        start, cpu_start = time.perf_counter(), time.process_time()
        result = fit(
            model, train, train_labels, valid, valid_labels, params, device=device, seed=args.seed,
            checkpoint_dir=Path(ckpt), pad_id=tokenizer.pad_token_id or 0, precision=precision,
            on_evaluate=lambda entry: curve.append((time.perf_counter() - start, entry["valid_macro_f1"])),
        )  # fmt: skip
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    accuracy, macro_f1 = scores(result.valid_probs, valid_labels)
    real = result.telemetry["real_tokens"]
    return {
        "name": "ratchet" + (" +compile" if compile_ else "") + f" {result.telemetry['precision']}"
        + (" full" if frozen == "off" else f" frozen{result.telemetry.get('frozen_layers', '')}"),
        "seconds": seconds, "cpu_seconds": cpu_seconds, "tokens_per_s": real / seconds,
        "samples_per_s": len(train) * args.epochs / seconds,
        "loop_tokens_per_s": result.telemetry["tokens_per_s"], "padding_waste": result.telemetry["padding_waste"],
        "peak_rss_mb": rss.peak_mb, "rss_growth_mb": rss.peak_mb - rss.start_mb, "peak_cuda_mb": peak_cuda_mb(device),
        "accuracy": accuracy, "macro_f1": macro_f1,
        "steps": result.steps, "final_macro_f1": result.history[-1]["valid_macro_f1"], "curve": curve,
    }  # fmt: skip


class _Rows(torch.utils.data.Dataset):
    def __init__(self, encoded: Encoded, labels: np.ndarray) -> None:
        self.encoded, self.labels = encoded, labels

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, i: int) -> dict:
        ids = self.encoded.input_ids[i].tolist()
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": int(self.labels[i])}


def run_trainer(args, names, device, train, train_labels, valid, valid_labels) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    model, tokenizer = fresh_model(args, names, device)
    curve: list[tuple[float, float]] = []
    clock = {"start": time.perf_counter()}

    class Curve(TrainerCallback):
        def on_evaluate(self, args_, state, control, metrics=None, **kwargs):
            curve.append((time.perf_counter() - clock["start"], float((metrics or {}).get("eval_macro_f1", 0.0))))

    def macro_f1_metric(prediction) -> dict[str, float]:
        return {"macro_f1": scores(torch.softmax(torch.from_numpy(np.asarray(prediction.predictions, np.float32)),
                                                 -1).numpy(), valid_labels)[1]}  # fmt: skip

    steps = math.ceil(math.ceil(len(train) / args.batch_size) * args.epochs)
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
            num_train_epochs=args.epochs, learning_rate=args.lr, warmup_steps=int(args.warmup_share * steps),
            lr_scheduler_type="linear", weight_decay=args.weight_decay, max_grad_norm=1.0,
            eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to="none",
            disable_tqdm=True, seed=args.seed, use_cpu=device == "cpu", bf16=device == "cuda" or args.trainer_bf16,
            dataloader_pin_memory=device == "cuda", train_sampling_strategy=args.trainer_sampling,
        )  # fmt: skip
        trainer = Trainer(
            model=model, args=training_args, train_dataset=_Rows(train, train_labels),
            eval_dataset=_Rows(valid, valid_labels), data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=macro_f1_metric, callbacks=[Curve()],
        )  # fmt: skip
        reset_memory(device)
        with RssSampler() as rss:
            start, cpu_start = time.perf_counter(), time.process_time()
            clock["start"] = start
            trainer.train()
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        peak_cuda = peak_cuda_mb(device)
        logits = trainer.predict(_Rows(valid, valid_labels)).predictions
    probs = torch.softmax(torch.from_numpy(np.asarray(logits, np.float32)), -1).numpy()
    accuracy, macro_f1 = scores(probs, valid_labels)
    epochs_run = trainer.state.epoch or args.epochs
    real = int(train.lengths.sum() * epochs_run)
    return {
        "name": f"HF Trainer {args.trainer_sampling}" + (" bf16" if args.trainer_bf16 or device == "cuda" else " fp32"),
        "seconds": seconds, "cpu_seconds": cpu_seconds, "tokens_per_s": real / seconds,
        "samples_per_s": len(train) * epochs_run / seconds,
        "loop_tokens_per_s": None, "padding_waste": None, "peak_rss_mb": rss.peak_mb, "peak_cuda_mb": peak_cuda,
        "rss_growth_mb": rss.peak_mb - rss.start_mb,
        "accuracy": accuracy, "macro_f1": macro_f1, "steps": trainer.state.global_step, "curve": curve,
    }  # fmt: skip


def compare_predict(args, names, device: str, valid_texts: list[str], valid: Encoded) -> None:
    """Inference throughput: ratchet's predict_probs vs transformers.pipeline, same model and rows."""
    from transformers import pipeline

    model, tokenizer = fresh_model(args, names, device)  # speed does not depend on training
    repeat = max(1, args.repeat)
    texts = valid_texts * repeat
    encoded = Encoded(valid.input_ids * repeat, np.tile(valid.lengths, repeat))
    real = int(encoded.lengths.sum())
    start = time.perf_counter()
    predict_probs(model, encoded, device=device, pad_id=tokenizer.pad_token_id or 0)
    ours = time.perf_counter() - start
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device=torch.device(device))
    start = time.perf_counter()
    classify(texts, batch_size=64, truncation=True, max_length=args.max_length, top_k=None)
    theirs = time.perf_counter() - start
    print(f"predict: ratchet {real / ours:,.0f} real tokens/s, transformers.pipeline {real / theirs:,.0f} "
          f"real tokens/s, ratio {theirs / ours:.2f}")  # fmt: skip


def prepare(args: argparse.Namespace):
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    train_texts, train_labels, valid_texts, valid_labels, names = load_rows(args)
    _, tokenizer = load_for_classification(args.model, names)
    train = encode(tokenizer, train_texts, None, args.max_length)
    valid = encode(tokenizer, valid_texts, None, args.max_length)
    return names, train, train_labels, valid, valid_labels, valid_texts


def run_contender(args: argparse.Namespace, device: str, spec: tuple) -> dict:
    """One training run; ``spec`` = ("ratchet", compile, precision, frozen) or ("trainer",)."""
    names, train, train_labels, valid, valid_labels, _ = prepare(args)
    if spec[0] == "trainer":
        return run_trainer(args, names, device, train, train_labels, valid, valid_labels)
    return run_ratchet(args, names, device, train, train_labels, valid, valid_labels, *spec[1:])


def main() -> None:
    args = parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    names, train, _, valid, _, valid_texts = prepare(args)
    print(f"device {device} ({torch.get_num_threads()} threads), model {args.model}, {len(train)} train rows "
          f"({int(train.lengths.sum()):,} real tokens, mean {train.lengths.mean():.0f}), {len(valid)} valid rows, "
          f"{args.epochs:g} epochs, batch {args.batch_size}, max_length {args.max_length}, lr {args.lr:g}"
          + (", each run in its own process" if args.isolate else ""))  # fmt: skip

    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    if args.precision is None:
        args.precision = "both" if device == "cpu" and cpu_has_native_bf16() else "auto"
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    freezing = ["off", "default"] if args.frozen == "both" else [args.frozen]
    specs = [("ratchet", c, p, f) for c in compiles for p in precisions for f in freezing] + [("trainer",)]
    if args.isolate:  # a fresh process per run: clean peak-memory figures, no order effects
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
            rows = [pool.apply(run_contender, (args, device, spec)) for spec in specs]
    else:
        rows = [run_contender(args, device, spec) for spec in specs]
    ours, theirs = rows[:-1], rows[-1]

    header = f"{'':24} {'tokens/s':>8} {'samples/s':>9} {'seconds':>7} {'tok/cpu-s':>9} {'peak RSS MB':>11}"
    header += f" {'(growth)':>8} {'peak CUDA MB':>12} {'pad waste':>9} {'accuracy':>8} {'macro-F1':>8} {'steps':>5}"
    print(header)
    for row in rows:
        cuda = "-" if row["peak_cuda_mb"] is None else f"{row['peak_cuda_mb']:.0f}"
        waste = "-" if row["padding_waste"] is None else f"{row['padding_waste']:.1%}"
        print(f"{row['name']:24} {row['tokens_per_s']:>8,.0f} {row['samples_per_s']:>9.1f} {row['seconds']:>7.1f} "
              f"{per_cpu_second(row):>9,.0f} {row['peak_rss_mb']:>11.0f} {row['rss_growth_mb']:>8.0f} {cuda:>12} "
              f"{waste:>9} {row['accuracy']:>8.3f} {row['macro_f1']:>8.3f} {row['steps']:>5}")  # fmt: skip
    for row in ours:
        print(f"{row['name']}: loop-only {row['loop_tokens_per_s']:,.0f} real tokens/s (evaluation excluded); "
              f"macro-F1 of the last epoch {row['final_macro_f1']:.3f} (table: best epoch)")  # fmt: skip
    for row in ours:  # process CPU time is robust to a busy shared machine, where wall time is not
        print(f"{row['name']}: {row['tokens_per_s'] / theirs['tokens_per_s']:.2f}x Trainer's real tokens/s "
              f"(wall), {per_cpu_second(row) / per_cpu_second(theirs):.2f}x per CPU-second")  # fmt: skip
    if args.predict:
        compare_predict(args, names, device, valid_texts, valid)
    best = max(ours, key=lambda r: r["tokens_per_s"])
    target = max((f1 for _, f1 in theirs.get("curve") or []), default=None)
    if target is not None:  # time to Trainer's best epoch: the same validation macro-F1, whoever gets there
        reach = {r["name"]: next((t for t, f1 in r.get("curve") or [] if f1 >= target), None) for r in rows}
        first = next(t for t, f1 in theirs["curve"] if f1 >= target)
        for name, seconds in reach.items():
            shown = "never" if seconds is None else f"{seconds:.0f} s ({seconds / first:.2f}x Trainer's {first:.0f} s)"
            print(f"{name}: reached Trainer's best epoch macro-F1 {target:.3f} in {shown}")
    print(f"fastest ratchet variant: {best['name']}")
    sys.stdout.flush()
    print(f"speedup {best['tokens_per_s'] / theirs['tokens_per_s']:.2f}")


def per_cpu_second(row: dict) -> float:
    return row["tokens_per_s"] * row["seconds"] / max(row["cpu_seconds"], 1e-9)


if __name__ == "__main__":
    main()
