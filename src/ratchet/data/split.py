"""Stratified splits, the label list, and the fingerprints that keep test text out of training.

The split allocates rows per class itself (largest remainder, then a seeded
shuffle inside each class) instead of calling sklearn's ``train_test_split``:
that one refuses classes with a single member or a test share smaller than the
number of classes, which tiny real datasets hit. Here every class keeps at least
one training row, totals match the requested shares, and a seed fixes the result.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ratchet.errors import RatchetError

_SPACE = re.compile(r"\s+")
_INT = re.compile(r"^-?\d+$")


def text_fingerprint(text: str, pair: str | None = None) -> str:
    """sha1 of the case-folded, whitespace-collapsed text (+ pair): "Great  movie" == "great movie"."""
    key = _SPACE.sub(" ", text.casefold()).strip()
    if pair is not None:
        key += "\x1f" + _SPACE.sub(" ", pair.casefold()).strip()
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def frame_fingerprints(df: pd.DataFrame) -> list[str]:
    pairs = df["text_pair"] if "text_pair" in df.columns else [None] * len(df)
    return [text_fingerprint(t, p) for t, p in zip(df["text"], pairs, strict=True)]


def stratified_split(
    df: pd.DataFrame, valid_size: float, test_size: float | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(train, valid, test or None); shares are of the whole frame, every class keeps a training row."""
    sizes = df["label"].value_counts().to_dict()
    total = len(df)
    taken = {label: 0 for label in sizes}
    n_test = _allocate(sizes, taken, test_size, total) if test_size else {label: 0 for label in sizes}
    taken = dict(n_test)
    n_valid = _allocate(sizes, taken, valid_size, total)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    label_of_row = df["label"].to_numpy()
    for label in sorted(sizes, key=str):
        members = rng.permutation(np.flatnonzero(label_of_row == label)).tolist()
        t, v = n_test[label], n_valid[label]
        parts["test"].extend(members[:t])
        parts["valid"].extend(members[t : t + v])
        parts["train"].extend(members[t + v :])
    if not parts["valid"]:
        raise RatchetError(
            f"{total} rows are too few to hold out a validation split: add rows or raise data.valid_size"
        )
    if test_size and not parts["test"]:
        raise RatchetError(f"{total} rows are too few to hold out a test split: add rows or pass --test FILE")

    def take(name: str) -> pd.DataFrame:
        return df.iloc[sorted(parts[name])].reset_index(drop=True)

    return take("train"), take("valid"), take("test") if test_size else None


def _allocate(sizes: Mapping[Any, int], taken: Mapping[Any, int], share: float, total: int) -> dict[Any, int]:
    """Rows per class for one held-out split: proportional, summing to round(total*share), capped so
    that each class keeps one row for training (largest-remainder rounding, deterministic order)."""
    room = {c: max(0, n - taken[c] - 1) for c, n in sizes.items()}
    ideal = {c: n * share for c, n in sizes.items()}
    alloc = {c: min(math.floor(ideal[c]), room[c]) for c in sizes}
    left = round(total * share) - sum(alloc.values())
    by_remainder = sorted(sizes, key=lambda c: (-(ideal[c] - math.floor(ideal[c])), -sizes[c], str(c)))
    by_room = sorted(sizes, key=lambda c: (-(room[c] - alloc[c]), str(c)))
    for order in (by_remainder, by_room):
        for c in order:
            if left <= 0:
                return alloc
            if alloc[c] < room[c]:
                alloc[c] += 1
                left -= 1
    return alloc


def remove_test_overlap(
    frames: Mapping[str, pd.DataFrame], test_fingerprints: Iterable[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Drop rows whose fingerprint is a test text; returns the frames and rows removed per frame."""
    sealed = set(test_fingerprints)
    out: dict[str, pd.DataFrame] = {}
    counts: dict[str, int] = {}
    for name, frame in frames.items():
        hit = np.array([fp in sealed for fp in frame_fingerprints(frame)], dtype=bool)
        counts[name] = int(hit.sum())
        out[name] = frame[~hit].reset_index(drop=True)
    return out, counts


def label_list(series: pd.Series) -> tuple[list[Any], str]:
    """(labels, kind): numbers sorted numerically when every label is one, else sorted strings.

    "int" when every label is a plain integer ("7", not "007"); "float" when every label is a
    number written the way Python writes it back ("1.0", "2.5"), so 1.0/2.0 labels come out of
    predict as the numbers 1.0/2.0. Any other spelling keeps the labels as the strings written.
    """
    values = sorted({str(v) for v in series})
    if values and all(_INT.match(v) and str(int(v)) == v for v in values):
        return sorted(int(v) for v in values), "int"
    if values and all(_is_canonical_float(v) for v in values):
        return sorted(float(v) for v in values), "float"
    return values, "str"


def _is_canonical_float(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return np.isfinite(value) and str(value) == text


def label_ids(series: pd.Series, labels: list[Any]) -> np.ndarray:
    index = {str(label): i for i, label in enumerate(labels)}
    try:
        return np.array([index[str(v)] for v in series], dtype=np.int64)
    except KeyError as exc:
        raise RatchetError(f"label {exc.args[0]!r} is not in the label list: fix the labels") from None


def check_test_labels(test: pd.DataFrame, labels: list[Any]) -> None:
    known = {str(label) for label in labels}
    unseen = sorted({str(v) for v in test["label"]} - known)
    if unseen:
        shown = ", ".join(unseen[:10]) + (f" and {len(unseen) - 10} more" if len(unseen) > 10 else "")
        raise RatchetError(f"test labels unseen in training: {shown}: fix the labels or add training examples")


def check_train_covers(train: pd.DataFrame, labels: list[Any]) -> None:
    """After test-overlap removal a class may have lost all its training rows: say so."""
    missing = sorted({str(label) for label in labels} - {str(v) for v in train["label"]})
    if missing:
        raise RatchetError(
            f"no training rows left for class {', '.join(missing)} once texts that also appear in the test "
            "set were removed: add training examples for it"
        )
