"""int8 against fp32 ONNX export of a run's model, on more rows than its sealed test: does int8 lose accuracy?

A run's sealed test (1,000 rows in default_run.py's runs) measures int8's macro-F1 change with an
interval of about +/-0.012: int8 changes 3-4% of decisions, in both directions, and which of them land
in 1,000 rows moves the difference by more than the 0.005 the issue allows. This benchmark scores
both exports of the run (``ratchet export RUN`` with ``--quantize none`` and ``int8``, made here) on
the sealed test and on ``--rows`` more rows of the public data set the run came from that are in none
of its splits (compared after ratchet's text cleaning; a seeded sample), then on both pooled, with a
stratified paired bootstrap interval of the difference (2,000 resamples) and the share of decisions
that agree. No default of ratchet was chosen on the extra rows. Texts go in calls of 64, as
``ratchet predict`` and the inference benchmark send them.

    python benchmarks/int8_heldout.py RUN --data crowdflower_tweets [--rows 2000] [--seed 0] [--threads 2]

Prints a table and a JSON line. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_data

from ratchet.cli import main as cli
from ratchet.data.clean import normalize_texts
from ratchet.evaluation.significance import paired_bootstrap
from ratchet.export import open_export
from ratchet.fsutil import read_json

CALL = 64


def heldout_rows(run: Path, data: str, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` labeled rows of ``data`` whose cleaned text is in none of the run's splits (nor repeated)."""
    used = set()
    for part in ("clean", "train", "valid", "test"):
        path = run / "data" / f"{part}.parquet"
        if path.is_file():
            used.update(pd.read_parquet(path, columns=["text"])["text"].astype(str))
    frame = public_data.load(data)
    frame = frame.assign(clean=normalize_texts(frame["text"])).drop_duplicates("clean")
    frame = frame[~frame["clean"].isin(used)]
    if len(frame) < rows:
        raise SystemExit(f"only {len(frame)} rows of {data} are outside the run's splits; ask for fewer with --rows")
    return frame.sample(rows, random_state=seed)[["clean", "label"]].rename(columns={"clean": "text"})


def decisions(model, texts: list[str]) -> np.ndarray:
    return np.concatenate([model.predict_proba(texts[s : s + CALL]).argmax(1) for s in range(0, len(texts), CALL)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", required=True, choices=sorted(public_data.LOADERS), help="the run's public data set")
    parser.add_argument("--rows", type=int, default=2000, help="held-out rows beyond the sealed test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    labels = [str(label) for label in read_json(args.run / "model" / "labels.json")["labels"]]
    test = pd.read_parquet(args.run / "data" / "test.parquet", columns=["text", "label"])
    extra = heldout_rows(args.run, args.data, args.rows, args.seed)
    sets = {"sealed test": test, "held-out rows": extra, "pooled": pd.concat([test, extra])}
    results = []
    with tempfile.TemporaryDirectory() as work:
        exports = {}
        for quantize in ("none", "int8"):
            assert cli(["export", str(args.run), "--out", f"{work}/{quantize}", "--quantize", quantize]) == 0
            exports[quantize] = open_export(Path(work) / quantize, args.threads)
        for name, frame in sets.items():
            texts = frame["text"].astype(str).tolist()
            truth = np.array([labels.index(str(v)) for v in frame["label"]])
            fp32, int8 = decisions(exports["none"], texts), decisions(exports["int8"], texts)
            cmp = paired_bootstrap(truth, fp32, int8, k=len(labels), metric="macro_f1", n_bootstrap=2000,
                                   seed=args.seed, confidence=0.95, strata=truth)  # fmt: skip
            results.append({"rows": name, "n": len(texts), "fp32": cmp.metric_a, "int8": cmp.metric_b,
                            "difference": cmp.gain, "ci": [cmp.ci_low, cmp.ci_high],
                            "agree": float((fp32 == int8).mean())})  # fmt: skip
    print(f"{'rows':14} {'n':>6} {'fp32 F1':>8} {'int8 F1':>8} {'int8 - fp32 [95% CI]':>26} {'agree':>6}")
    for r in results:
        interval = f"{r['difference']:+.4f} [{r['ci'][0]:+.4f}, {r['ci'][1]:+.4f}]"
        print(f"{r['rows']:14} {r['n']:6d} {r['fp32']:8.4f} {r['int8']:8.4f} {interval:>26} {r['agree']:6.3f}")
    print(json.dumps({"run": str(args.run), "data": args.data, "seed": args.seed, "results": results}))


if __name__ == "__main__":
    main()
