"""Pool a variant's paired comparison with TF-IDF over several runs of chinese_adaptation.py (seeds).

One seed's 1,000 test rows give a 95% interval of about +-0.023 macro-F1 on the gain, as wide as the
gaps measured, and each seed draws other samples of every split. This reads the test predictions
that each OUT folder holds and reports the mean over seeds of the per-seed gain in macro-F1, with a
stratified paired bootstrap: every resample redraws each seed's rows from that seed alone, pairing
the two models on the same rows, and averages the per-seed gains.

Usage:

    python benchmarks/pooled_seeds.py /tmp/zh-s0 /tmp/zh-s1 /tmp/zh-s2 [--variant adapt+vocab]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load_pair(out: Path, variant: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, variant's predictions, TF-IDF's predictions) on one OUT folder's sealed test rows."""
    from chinese_adaptation import sealed_test_pair  # this folder is on sys.path when run as a script

    pair = sealed_test_pair(out, variant)
    if pair is None:
        print(f"error: {out} lacks test predictions of {variant} or tfidf-char: run both there", file=sys.stderr)
        raise SystemExit(2)
    return pair


def pooled_gain(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_bootstrap: int = 2000,
                seed: int = 0) -> dict:  # fmt: skip
    """Mean per-seed gain (variant - TF-IDF) in macro-F1 with a stratified paired bootstrap."""
    from ratchet.evaluation.metrics import bootstrap_indices, confusion_matrix, confusion_score

    per_seed, resampled = [], np.zeros(n_bootstrap)
    for i, (truth, ours, theirs) in enumerate(pairs):
        k = int(max(truth.max(), ours.max(), theirs.max())) + 1
        full = [float(confusion_score("macro_f1", confusion_matrix(truth, p, k))) for p in (ours, theirs)]
        per_seed.append(full[0] - full[1])
        codes = (truth * k + ours, truth * k + theirs)
        draws = bootstrap_indices(len(truth), n_bootstrap, seed + i)  # each seed's rows resampled on their own
        resampled += np.concatenate([_gains(*codes, idx, k) for idx in draws]) / len(pairs)
    return {
        "seeds": len(pairs),
        "per_seed_gain": [round(g, 4) for g in per_seed],
        "mean_gain": round(float(np.mean(per_seed)), 4),
        "ci": [round(float(np.quantile(resampled, 0.025)), 4), round(float(np.quantile(resampled, 0.975)), 4)],
        "p_better": round(float(np.mean(resampled > 0)), 3),
    }


def _gains(codes_ours: np.ndarray, codes_theirs: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 gain of each resample in idx (b, n), from codes = true * k + pred."""
    from ratchet.evaluation.metrics import confusion_score, resampled_confusions

    ours, theirs = (confusion_score("macro_f1", resampled_confusions(c, idx, k)) for c in (codes_ours, codes_theirs))
    return ours - theirs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outs", nargs="+", help="OUT folders of chinese_adaptation.py runs (one per seed)")
    parser.add_argument("--variant", default="adapt+vocab")
    parser.add_argument("--n-bootstrap", type=int, default=2000)
    args = parser.parse_args(argv)
    result = pooled_gain([load_pair(Path(o), args.variant) for o in args.outs], args.n_bootstrap)
    print(f"{args.variant} vs tfidf-char over {result['seeds']} seeds: {json.dumps(result)}")


if __name__ == "__main__":
    main()
