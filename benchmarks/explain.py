"""Explanations on a finished run's validation rows: faithfulness of IG, occlusion and random words, and speed.

    python benchmarks/explain.py RUN [--rows 50] [--steps 32]

Prints comprehensiveness / sufficiency (ERASER AOPC, predicted label) and the seconds per 100 texts of
each method on this machine, plus the leakage warnings of the report's rule. Never asserts a time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main() -> None:
    from ratchet.config import CleanParams
    from ratchet.data.clean import normalize_text
    from ratchet.data.frames import label_id_array
    from ratchet.explain.explainer import Explainer
    from ratchet.explain.faithfulness import faithfulness, random_rankings, rankings_of
    from ratchet.explain.global_view import leakage
    from ratchet.predictor import load_predictor

    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    run = Path(args.run)
    predictor = load_predictor(run / "model")
    clean = CleanParams(**predictor.meta["clean"]) if "clean" in predictor.meta else CleanParams()
    valid = pd.read_parquet(run / "data" / "valid.parquet")
    rows = np.random.default_rng(0).permutation(len(valid))[: args.rows]
    texts = [normalize_text(valid["text"].iloc[int(i)], clean) for i in rows]
    explainer = Explainer(predictor)
    print(f"{run}: model kind {predictor.meta.get('kind')}, {len(texts)} validation rows, IG steps {args.steps}")
    found = {}
    for method in ("ig", "occlusion"):
        started = time.time()
        found[method] = explainer.explain(texts, method, steps=args.steps)
        print(f"  {method:<10} {100 * (time.time() - started) / len(texts):8.1f} s per 100 texts")
    base = found["occlusion"]
    print(f"  {'ranking':<10} {'comprehensiveness':>18} {'sufficiency':>12}")
    for name, order in (("ig", rankings_of(found["ig"])), ("occlusion", rankings_of(base)),
                        ("random", random_rankings(base))):  # fmt: skip
        score = faithfulness(predictor.predict_probs, base, order)
        print(f"  {name:<10} {score.comprehensiveness:18.4f} {score.sufficiency:12.4f}")
    labels = [str(label) for label in predictor.labels]
    labeled = pd.concat([pd.read_parquet(run / "data" / f"{s}.parquet") for s in ("train", "valid")])
    ids = label_id_array(labeled["label_id"])  # a multi-label run's rows: their label sets
    names = [[labels[j] for j in np.flatnonzero(r)] if ids.ndim == 2 else labels[int(r)] for r in ids]
    warnings = leakage(found["ig"], labeled["text"].astype(str).tolist(), names, labels)
    print(f"  leakage warnings: {[(w.word, w.kind, w.label, round(w.purity, 2), w.rows) for w in warnings]}")


if __name__ == "__main__":
    main()
