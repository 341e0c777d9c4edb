"""Explanations on a finished run's validation rows: faithfulness of IG, occlusion and random words, and speed.

    python benchmarks/explain.py RUN [--rows 50] [--steps 32]
    python benchmarks/explain.py RUN --rows 40 --compare-steps 32 16 8:32 16:64

Prints comprehensiveness / sufficiency (ERASER AOPC, predicted label) and the seconds per 100 texts of
each method on this machine, plus the leakage warnings of the report's rule. ``--compare-steps``
instead explains the rows IG-only at each starting number of points (refined as the CLI refines them,
up to 512 points, or up to MAX with START:MAX, as the report refines), and with a 128-point integral as
the reference: seconds, speed against the first setting, and how far the word scores are from the
reference (L1 share, same top-5 words). Never asserts a time.
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
    parser.add_argument("--compare-steps", nargs="+", help="IG starting points (START or START:MAX), e.g. 32 16:64")
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
    if args.compare_steps:
        compare_steps(explainer, texts, args.compare_steps)
        return
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


def compare_steps(explainer, texts: list[str], settings: list[str], reference_points: int = 128) -> None:
    """IG from each starting number of points (doubled where completeness misses, as the CLI does, up to MAX
    in START:MAX) against one integral of ``reference_points`` points: what fewer points cost in fidelity
    and buy in seconds."""
    from ratchet.explain.gradients import MAX_STEPS

    reference = explainer.explain(texts, steps=reference_points, max_steps=reference_points)
    seconds: dict[str, float] = {}
    for setting in settings:
        start, _, most = setting.partition(":")
        started = time.time()
        found = explainer.explain(texts, steps=int(start), max_steps=int(most or MAX_STEPS))
        seconds[setting] = (time.time() - started) / len(texts)
        share, same_top = [], []
        for mine, exact in zip(found, reference, strict=True):
            a, b = np.asarray(mine.scores), np.asarray(exact.scores)
            share.append(np.abs(a - b).sum() / max(np.abs(b).sum(), 1e-12))
            k = min(5, len(b))
            same_top.append(len(set(np.argsort(-a)[:k]) & set(np.argsort(-b)[:k])) / k)
        speed = seconds[settings[0]] / seconds[setting]
        print(
            f"  steps {setting:>6}: {100 * seconds[setting]:7.1f} s per 100 texts ({speed:.2f}x"
            f" steps {settings[0]}'s speed); word scores off the {reference_points}-point integral by (L1 share) median"
            f" {np.median(share):.4f}, 90th percentile {np.quantile(share, 0.9):.4f}, max {np.max(share):.4f};"
            f" same top-5 words {np.mean(same_top):.3f} (min {np.min(same_top):.2f})"
        )


if __name__ == "__main__":
    main()
