"""Where a cross-fitted fold fit spends its time: one training step of the default recipe, profiled.

A fold fit of the fast preset trains the top layers of the default MiniLM on cached states of its
frozen lower layers (training/frozen.py). This script builds exactly that (ratchet's own model
loading, frozen cache, token-budget batches, fused AdamW and loss) on the demo's training rows,
runs ``--steps`` optimizer steps under ``torch.profiler`` and prints each kind of work's share of
the CPU time: matrix products, attention, dropout's random masks, other elementwise work,
layer norm, copies (padding the cached states into a batch included), the optimizer step, and
the rest; and the same number of steps timed without the profiler (steps/s, tokens/s).

Shares, not seconds, are the figure to read: on a machine shared with other jobs the seconds
move, the shares much less. Data: examples/drug_reviews (UCI Drug Review Dataset, CC BY 4.0).

    python benchmarks/fold_profile.py --rows 256 --steps 12
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

KINDS = (
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul")),
    ("attention", ("scaled_dot_product", "_softmax", "softmax_backward")),
    ("dropout masks", ("bernoulli", "native_dropout")),
    ("layer norm", ("layer_norm",)),
    ("optimizer", ("_fused_adamw", "adamw", "_foreach")),
    ("copies", ("aten::copy_", "aten::to", "aten::_to_copy", "aten::zeros", "aten::fill_", "aten::cat")),
    ("elementwise", ("aten::mul", "aten::add", "aten::div", "gelu", "aten::where", "aten::sum", "aten::sub")),
)


def kind_of(name: str) -> str:
    for kind, keys in KINDS:
        if any(key in name for key in keys):
            return kind
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from ratchet.config import TrainParams
    from ratchet.data.io import read_table
    from ratchet.models.load import load_for_classification
    from ratchet.models.source import resolve_model_path
    from ratchet.training.batching import BatchStream
    from ratchet.training.encode import encode
    from ratchet.training.frozen import StateCache, freeze_bottom
    from ratchet.training.optim import build_optimizer, classification_loss

    frame = read_table(ROOT / "examples" / "drug_reviews" / "train.tsv")
    texts = frame["review"].astype(str).tolist()[: args.rows]
    labels = np.random.default_rng(0).integers(0, 3, len(texts))
    params = TrainParams()
    model, tokenizer = load_for_classification(resolve_model_path("default"), ["a", "b", "c"])
    encoded = encode(tokenizer, texts, None, params.max_length)
    device = torch.device("cpu")
    started = time.perf_counter()
    frozen = freeze_bottom(model, params.frozen_layers, StateCache(params.frozen_layers))
    assert frozen is not None
    frozen.fill(encoded, device, tokenizer.pad_token_id)
    fill_seconds = time.perf_counter() - started
    stream = BatchStream(encoded.lengths, params, 0, 1)
    optimizer = build_optimizer(model, params.learning_rate, params.weight_decay, device)
    model.train()

    def step(i: int) -> int:
        rows = stream.rows(i)
        batch = frozen.collate(encoded, rows)
        logits = frozen.view(**batch).logits
        loss = classification_loss(logits, torch.as_tensor(labels[rows]), torch.ones(len(rows)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return int(encoded.lengths[rows].sum())

    for i in range(3):  # warm-up: first calls allocate
        step(i)
    t0 = time.perf_counter()
    tokens = sum(step(3 + i) for i in range(args.steps))
    plain = time.perf_counter() - t0

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.steps):
            step(3 + args.steps + i)
    shares: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        shares[kind_of(event.key)] += event.self_cpu_time_total
    total = sum(shares.values()) or 1.0

    print(f"rows {len(texts)}, frozen cut at layer {frozen.cache.cut}, cache fill {fill_seconds:.1f} s")
    print(f"{args.steps} steps: {plain:.2f} s, {args.steps / plain:.2f} steps/s, {tokens / plain:.0f} tokens/s")
    print("share of profiled CPU time:")
    for kind, value in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {kind:14s} {100 * value / total:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
