"""Near-duplicate detection: precision/recall on injected near-copies, and time and memory at 200k rows.

Quality: copies of drug reviews (examples/drug_reviews, train + test, 979 texts) are
injected with one kind of change each - case, punctuation, whitespace, k words replaced,
or case + punctuation + one word - and ``near_duplicates`` runs over originals + copies.
Recall is per kind (with the mean true Jaccard of the word sets, so a kind that falls
below the threshold is expected to be missed); precision counts every found pair
that does not link a copy to its original (pairs among the originals themselves are
counted apart: the data has its own near-duplicates).

Scale: ``--rows`` synthetic reviews (default 200k) with words drawn from the drug
reviews' word frequencies and their length distribution, 1% of them near-copies; the
figures are wall time per phase and peak RSS of the process (sampled).

    python benchmarks/near_duplicates.py                 # quality + 200k scale
    python benchmarks/near_duplicates.py --rows 0        # quality only
    python benchmarks/near_duplicates.py --inspect       # also `ratchet inspect` on the 200k-row file

Not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ratchet.data.clean import normalize_text
from ratchet.data.near_duplicates import jaccard, near_duplicates, shingle_matrix, sign
from ratchet.training.telemetry import RssSampler

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "drug_reviews"
KINDS = ("case", "punctuation", "whitespace", "1 word", "2 words", "3 words", "5 words", "case+punct+1 word")
PER_KIND = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", default="0.8,0.9", help="comma-separated Jaccard thresholds")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the scale run (0: skip it)")
    parser.add_argument("--inspect", action="store_true", help="also time `ratchet inspect` on the scale data")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def reviews() -> list[str]:
    texts = []
    for name in ("train.tsv", "test.tsv"):
        texts += [normalize_text(t) for t in pd.read_csv(EXAMPLES / name, sep="\t")["review"]]
    return list(dict.fromkeys(texts))


def perturb(text: str, kind: str, vocab: list[str], rng: random.Random) -> str:
    words = text.split(" ")

    def replace(k: int) -> str:
        out = list(words)
        for i in rng.sample(range(len(out)), min(k, len(out))):
            out[i] = rng.choice(vocab)
        return " ".join(out)

    if kind == "case":
        return text.upper() if rng.random() < 0.5 else text.lower()
    if kind == "punctuation":
        return re.sub(r"[^\w\s]", "", text) + " !!!"
    if kind == "whitespace":
        return "  ".join(words).replace(". ", ".\n\n")
    if kind.endswith("words") or kind == "1 word":
        return replace(int(kind.split()[0]))
    return re.sub(r"[^\w\s]", "", replace(1)).upper()


def quality(thresholds: list[float], seed: int) -> None:
    rng = random.Random(seed)
    originals = reviews()
    vocab = sorted({w for t in originals for w in t.split()})
    chosen = rng.sample(range(len(originals)), PER_KIND * len(KINDS))
    copies, source, kinds = [], [], []
    for k, kind in enumerate(KINDS):
        for i in chosen[k * PER_KIND : (k + 1) * PER_KIND]:
            copies.append(perturb(originals[i], kind, vocab, rng))
            source.append(i)
            kinds.append(kind)
    texts = originals + copies
    n = len(originals)
    origin = np.array(list(range(n)) + source)  # every text's original
    sets = shingle_matrix(texts)
    true_j = jaccard(sets, np.array([[s, n + j] for j, s in enumerate(source)]))
    print(f"quality: {n} drug reviews + {len(copies)} injected near-copies ({PER_KIND} per kind)")
    signed = sign(texts)
    for threshold in thresholds:
        started = time.time()
        own = near_duplicates(sign(originals), threshold)
        own_groups = own.group
        found = near_duplicates(signed, threshold)
        seconds = time.time() - started
        a, b = origin[found.pairs[:, 0]], origin[found.pairs[:, 1]]
        same = (a == b) | ((own_groups[a] >= 0) & (own_groups[a] == own_groups[b]))
        injected = {(int(i), int(j)) for i, j in found.pairs.tolist() if j >= n and origin[j] == i}
        pre = int(((found.pairs[:, 1] < n) & same).sum())
        wrong = int((~same).sum())
        judged = len(found.pairs) - pre
        print(f"\n  threshold {threshold}: {len(found.pairs)} pairs found in {seconds:.2f}s; "
              f"{pre} among the originals themselves; precision {(judged - wrong) / max(judged, 1):.3f} "
              f"({wrong} wrong pairs of {judged})")  # fmt: skip
        print(f"  {'kind':<20} {'recall':>7} {'mean Jaccard':>13} {'min':>6}")
        for kind in KINDS:
            idx = [j for j, k in enumerate(kinds) if k == kind]
            hit = np.mean([(source[j], n + j) in injected for j in idx])
            print(f"  {kind:<20} {hit:>7.3f} {np.mean(true_j[idx]):>13.3f} {np.min(true_j[idx]):>6.3f}")
        above = true_j >= threshold
        caught = np.array([(source[j], n + j) in injected for j in range(len(copies))])
        print(f"  recall of copies with Jaccard >= {threshold}: {caught[above].mean():.3f} ({above.sum()} copies); "
              f"overall {caught.mean():.3f}")  # fmt: skip


def synthetic(rows: int, seed: int) -> tuple[list[str], int]:
    """Texts drawn word by word from the reviews' frequencies; the last 1% are near-copies of others."""
    originals = reviews()
    counts = Counter(w for t in originals for w in t.split())
    words = np.array(list(counts))
    p = np.array(list(counts.values()), dtype=np.float64)
    p /= p.sum()
    lengths = np.array([len(t.split()) for t in originals])
    rng = np.random.default_rng(seed)
    n_copies = rows // 100
    sizes = rng.choice(lengths, rows - n_copies)
    flat = rng.choice(len(words), int(sizes.sum()), p=p)
    bounds = np.r_[0, np.cumsum(sizes)]
    texts = [" ".join(words[flat[bounds[i] : bounds[i + 1]]]) for i in range(len(sizes))]
    local = random.Random(seed)
    vocab = words.tolist()
    for _ in range(n_copies):
        base = texts[local.randrange(len(sizes))]
        texts.append(perturb(base, local.choice(("case", "1 word", "2 words", "case+punct+1 word")), vocab, local))
    return texts, n_copies


def scale(rows: int, seed: int, inspect: bool) -> None:
    started = time.time()
    texts, n_copies = synthetic(rows, seed)
    print(f"\nscale: {rows} synthetic reviews ({n_copies} injected near-copies) built in {time.time() - started:.1f}s")
    with RssSampler() as rss:
        t0 = time.time()
        signed = sign(texts)
        t1 = time.time()
        found = near_duplicates(signed, 0.9)
        t2 = time.time()
    n = rows - n_copies
    copies_found = len({int(j) for i, j in found.pairs.tolist() if j >= n})
    print(f"  word sets + MinHash: {t1 - t0:.1f}s; LSH + exact check: {t2 - t1:.1f}s; total {t2 - t0:.1f}s")
    print(f"  peak RSS {rss.peak_mb:.0f} MB (signatures {signed.signatures.nbytes / 2**20:.0f} MB, "
          f"word sets {(signed.sets.indices.nbytes + signed.sets.data.nbytes) / 2**20:.0f} MB)")  # fmt: skip
    print(f"  {len(found.pairs)} pairs, {len(found.groups())} groups; injected copies found: "
          f"{copies_found}/{n_copies} (the rest fell below 0.9 Jaccard or were missed)")  # fmt: skip
    if inspect:
        from ratchet.config import CleanParams, DataParams
        from ratchet.data.report import inspect_data

        folder = Path(tempfile.mkdtemp(prefix="near-dup-"))
        path = folder / "big.csv"
        labels = np.random.default_rng(seed).choice(["negative", "neutral", "positive"], len(texts))
        pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
        with RssSampler() as rss:
            t0 = time.time()
            report = inspect_data(path, DataParams(), CleanParams())
            seconds = time.time() - t0
        near = report["near_duplicates"]
        print(f"  ratchet inspect on {len(texts)} rows: {seconds:.1f}s, peak RSS {rss.peak_mb:.0f} MB; "
              f"{near['groups']} near-duplicate groups, unknown-token share of words "
              f"{report['coverage']['unk_share_words']:.4f}")  # fmt: skip


def main() -> None:
    args = parse_args()
    quality([float(t) for t in args.thresholds.split(",")], args.seed)
    if args.rows:
        scale(args.rows, args.seed, args.inspect)


if __name__ == "__main__":
    main()
