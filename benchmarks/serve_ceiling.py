"""Where the served throughput of an export goes: the model alone in the server's kind of calls, then behind HTTP.

``ratchet serve`` with 8 clients sending one text each runs an export as two one-thread model calls side by
side, each taking the few requests queued at once. This benchmark measures, in alternating rounds on the
same texts (RUN's sealed test texts, or ``--texts FILE.csv`` with a ``text`` column):

- ``batch 64``: calls of 64 texts on one session with every thread (``ratchet predict EXPORT``'s path);
- ``N x 2``: calls of N texts (1, 4, 8) on two one-thread sessions side by side, the model alone;
- ``served``: ``ratchet serve EXPORT`` under Debian's ``wrk`` (8 kept-alive connections, one text each,
  10 s after a 4 s warm-up; skipped when ``wrk`` is not installed). wrk runs on the same cores.

The ratio of each to ``batch 64`` in the same round is what to read: this machine's speed drifts between
rounds. Prints one line per round, the medians, and a JSON line. Not a test: it asserts nothing.

    python benchmarks/serve_ceiling.py EXPORT_DIR --texts-from RUN [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference import serve_rate_wrk_only, timed

from ratchet.export.reader import ExportedModel

SIZES = (1, 4, 8)


def batch64(model: ExportedModel, texts: list[str]) -> float:
    return len(texts) / sum(timed(model.predict_proba, texts, 64))


def side_by_side(models: list[ExportedModel], texts: list[str], size: int) -> float:
    """Texts/s of len(models) one-thread sessions at once, each calling with ``size`` texts on its share."""

    def work(model: ExportedModel, part: list[str]) -> None:
        for start in range(0, len(part), size):
            model.predict_proba(part[start : start + size])

    shares = [texts[i :: len(models)] for i in range(len(models))]
    threads = [threading.Thread(target=work, args=pair) for pair in zip(models, shares, strict=True)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(texts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a folder written by ratchet export")
    parser.add_argument("--texts-from", type=Path, required=True, help="a run folder (its data/test.parquet)")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    texts = pd.read_parquet(args.texts_from / "data" / "test.parquet")["text"].astype(str).tolist()[: args.rows]
    whole = ExportedModel(args.export, threads=args.threads)
    singles = [ExportedModel(args.export, threads=1) for _ in range(args.threads)]
    side_by_side(singles, texts[:64], 8)  # warm: first calls allocate (timed warms the batch-64 session)
    rounds = []
    for index in range(args.rounds):
        row = {"batch 64": batch64(whole, texts)}
        row.update({f"{size} x {args.threads}": side_by_side(singles, texts, size) for size in SIZES})
        if shutil.which("wrk"):
            row["served"] = serve_rate_wrk_only(args.export, texts)
        rounds.append(row)
        print(f"round {index + 1}: " + ", ".join(f"{k} {v:.1f} ({v / row['batch 64']:.2f}x)" for k, v in row.items()))
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    ratios = {key: statistics.median(r[key] / r["batch 64"] for r in rounds) for key in rounds[0]}
    print("median texts/s: " + ", ".join(f"{k} {v:.1f} ({ratios[k]:.2f}x)" for k, v in medians.items()))
    print(json.dumps({"export": str(args.export), "rounds": rounds, "median": medians, "median_ratio": ratios}))


if __name__ == "__main__":
    main()
