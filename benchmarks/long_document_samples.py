"""Long-document samples and scores shared by long_documents.py and long_documents_steps.py.

A seed draws a train and a test sample of a public long-document set (public_data.py) in which a share of the
texts are longer than max_length tokens of the default model's tokenizer; macro-F1 and a paired bootstrap gain
score models on the test sample.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import public_data  # this folder is on sys.path when run as a script


def token_lengths(texts: list[str]) -> np.ndarray:
    from ratchet.data.coverage import load_tokenizer
    from ratchet.data.coverage import token_lengths as count

    return count(load_tokenizer("default"), texts)


def draw(
    df: pd.DataFrame, lengths: np.ndarray, n: int, share: float, max_length: int, rng, cap: int | None = None
) -> pd.DataFrame:
    """``n`` rows of ``df``, ``share`` of them longer than ``max_length`` tokens (and at most ``cap``), spread over
    the classes."""
    long = lengths > max_length
    if cap is not None:  # texts longer than the cap are drawn as neither long nor short
        df, lengths, long = df[lengths <= cap], lengths[lengths <= cap], long[lengths <= cap]
    picked = []
    classes = sorted(df["label"].unique())
    for want_long, count in ((True, round(share * n)), (False, n - round(share * n))):
        pool = df[long == want_long]
        per_class = {c: np.flatnonzero((pool["label"] == c).to_numpy()) for c in classes}
        quota = count // len(classes)
        chosen = [rng.choice(rows, min(quota, len(rows)), replace=False) for rows in per_class.values()]
        taken = np.concatenate(chosen)
        rest = np.setdiff1d(np.arange(len(pool)), taken)
        taken = np.concatenate([taken, rng.choice(rest, count - len(taken), replace=False)])  # fill the quota
        picked.append(pool.iloc[taken])
    return pd.concat(picked).sample(frac=1.0, random_state=int(rng.integers(1 << 31)))


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that fix a seed's samples and recipe (``draw_samples`` reads them), with --out."""
    parser.add_argument("--data", choices=("news_articles", "bbc_news", "newsgroups20"), default="news_articles")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--train-rows", type=int, default=300)
    parser.add_argument("--test-rows", type=int, default=300)
    parser.add_argument("--long-share", type=float, default=1 / 3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument(
        "--max-long-tokens",
        type=int,
        default=None,
        help="draw long texts only among those of at most this many tokens (fewer windows: cheaper)",
    )


def draw_samples(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, float]:
    """The seed's train and test samples (``args``: data, seed, train_rows, test_rows, long_share, max_length,
    max_long_tokens); -> (train, test, every corpus text's token length, the corpus's long share)."""
    df = public_data.load(args.data).drop_duplicates("text").reset_index(drop=True)
    lengths = token_lengths(df["text"].tolist())
    rng = np.random.default_rng(args.seed)
    cap = args.max_long_tokens
    train = draw(df, lengths, args.train_rows, args.long_share, args.max_length, rng, cap)
    rest = df.drop(index=train.index)
    test = draw(rest, lengths[rest.index.to_numpy()], args.test_rows, args.long_share, args.max_length, rng, cap)
    return train, test, lengths, float((lengths > args.max_length).mean())


def macro_f1(truth: np.ndarray, pred: np.ndarray, k: int) -> float:
    from ratchet.evaluation.metrics import confusion_matrix, confusion_score

    return float(confusion_score("macro_f1", confusion_matrix(truth, pred, k)))


def paired_gain(truth, ours, theirs, k: int, n_boot: int = 2000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    gains = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(truth), len(truth))
        gains[b] = macro_f1(truth[idx], ours[idx], k) - macro_f1(truth[idx], theirs[idx], k)
    gain = macro_f1(truth, ours, k) - macro_f1(truth, theirs, k)
    return {"gain": round(gain, 4), "ci95": [round(float(np.quantile(gains, q)), 4) for q in (0.025, 0.975)],
            "p_better": round(float((gains > 0).mean()), 3)}  # fmt: skip
