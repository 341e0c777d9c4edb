"""Data-parallel fine-tuning: one process per GPU (or CPU worker), started by torchrun.

    torchrun --nproc_per_node 4 -m ratchet.training.ddp --model default \\
        --data RUN/data --params params.json --out OUT [--device cuda] [--seed 0]

or, from Python, ``launch(nproc, ...)`` which runs exactly that. Multi-node works the same
way with torchrun's ``--nnodes/--node_rank/--rdzv_endpoint`` (the folders must be shared).

Each rank takes every ``world``-th micro-batch of the same seeded plan, and DDP averages
gradients, so N processes with ``grad_accum=a`` train like one process with
``grad_accum=N*a``: the same effective batch and the same schedule. Rank 0 writes
``OUT/model`` (a ratchet model folder), ``OUT/result.json`` and ``OUT/valid_probs.npy``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_write, read_json, write_json


def launch(
    nproc: int,
    *,
    model: str,
    data_dir: Path,
    params: Any,
    out_dir: Path,
    device: str = "cpu",
    seed: int = 0,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``nproc`` local ranks through torchrun; returns result.json (valid_probs added as an array)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params_file = out_dir / "params.json"
    write_json(params_file, dataclasses.asdict(params))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "ratchet.training.ddp", "--model", model, "--data", str(data_dir), "--params", str(params_file),
        "--out", str(out_dir), "--device", device, "--seed", str(seed),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-20:])
        raise RuntimeError(f"data-parallel training failed (exit {done.returncode}):\n{tail}")
    result = read_json(out_dir / "result.json")
    result["valid_probs"] = np.load(out_dir / "valid_probs.npy")
    return result


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle: np.save would append ".npy" to the temp name
        np.save(handle, array)


def _read_split(path: Path) -> tuple[list[str], list[str] | None, np.ndarray, np.ndarray | None]:
    import pandas as pd

    frame = pd.read_parquet(path)
    pairs = frame["text_pair"].astype(str).tolist() if "text_pair" in frame.columns else None
    weights = frame["weight"].to_numpy(np.float32) if "weight" in frame.columns else None
    from ratchet.data.frames import label_id_array

    return frame["text"].astype(str).tolist(), pairs, label_id_array(frame["label_id"]), weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ratchet.training.ddp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="backbone name or path ('default' = all-MiniLM-L6-v2)")
    parser.add_argument("--data", required=True, help="folder with train.parquet, valid.parquet, labels.json")
    parser.add_argument("--params", required=True, help="JSON of train params (TrainParams fields)")
    parser.add_argument("--out", required=True, help="output folder (model/, result.json, checkpoint/)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    import torch.distributed as dist

    from ratchet.config import TrainParams
    from ratchet.models.load import load_for_classification, save_classifier
    from ratchet.training.encode import encode
    from ratchet.training.loop import fit

    if "RANK" not in os.environ:
        raise RatchetError("ratchet.training.ddp must be started by torchrun: use torchrun --nproc_per_node N -m ...")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if args.device == "cuda":
        torch.cuda.set_device(local_rank)
    backend = "nccl" if args.device == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    try:
        device = f"cuda:{local_rank}" if args.device == "cuda" else "cpu"
        params = TrainParams(**read_json(Path(args.params)))
        data = Path(args.data)
        labels = read_json(data / "labels.json")["labels"]
        train_texts, train_pairs, train_labels, weights = _read_split(data / "train.parquet")
        valid_texts, valid_pairs, valid_labels, _ = _read_split(data / "valid.parquet")
        torch.manual_seed(args.seed)  # same head on every rank (DDP also broadcasts rank 0's weights)
        model, tokenizer = load_for_classification(args.model, [str(v) for v in labels], dropout=params.dropout,
                                                   multilabel=train_labels.ndim == 2)  # fmt: skip
        train = encode(tokenizer, train_texts, train_pairs, params.max_length)
        valid = encode(tokenizer, valid_texts, valid_pairs, params.max_length)
        out = Path(args.out)
        result = fit(
            model, train, train_labels, valid, valid_labels, params, device=device, seed=args.seed,
            checkpoint_dir=out / "checkpoint", sample_weights=weights, pad_id=tokenizer.pad_token_id or 0,
        )  # fmt: skip
        if dist.get_rank() == 0:
            meta = {"backbone": args.model, "max_length": params.max_length, "text_pair": train_pairs is not None}
            save_classifier(model.to("cpu"), tokenizer, labels, out / "model", meta)
            atomic_write(out / "valid_probs.npy", lambda tmp: _save_npy(tmp, result.valid_probs))
            summary = {k: v for k, v in dataclasses.asdict(result).items() if k != "valid_probs"}
            write_json(out / "result.json", json.loads(json.dumps(summary, default=float)))
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
