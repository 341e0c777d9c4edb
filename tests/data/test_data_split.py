"""Stratified splits, label lists and the removal of test texts from training data."""

from __future__ import annotations

import pandas as pd
import pytest

from ratchet.data.split import (
    check_test_labels,
    check_train_covers,
    label_ids,
    label_list,
    remove_test_overlap,
    stratified_split,
    text_fingerprint,
)
from ratchet.errors import RatchetError


def _pool(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{label} text {i}", label) for label, n in counts.items() for i in range(n)]
    return pd.DataFrame({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]})


def test_stratified_and_sized() -> None:
    pool = _pool({"pos": 200, "neg": 100, "neu": 40})
    train, valid, test = stratified_split(pool, 0.15, 0.2, seed=0)
    assert test is not None
    assert (len(train), len(valid), len(test)) == (221, 51, 68)
    assert test["label"].value_counts().to_dict() == {"pos": 40, "neg": 20, "neu": 8}
    assert valid["label"].value_counts().to_dict() == {"pos": 30, "neg": 15, "neu": 6}
    # Disjoint and complete.
    texts = [*train["text"], *valid["text"], *test["text"]]
    assert sorted(texts) == sorted(pool["text"])


def test_deterministic_for_a_seed() -> None:
    pool = _pool({"a": 30, "b": 20})
    first = stratified_split(pool, 0.2, None, seed=7)
    again = stratified_split(pool, 0.2, None, seed=7)
    other = stratified_split(pool, 0.2, None, seed=8)
    assert first[2] is None
    assert first[1]["text"].tolist() == again[1]["text"].tolist()
    assert first[1]["text"].tolist() != other[1]["text"].tolist()


def test_tiny_classes_stay_in_train() -> None:
    pool = _pool({"big": 20, "two": 2, "one": 1})
    train, valid, test = stratified_split(pool, 0.2, 0.2, seed=0)
    assert set(train["label"]) == {"big", "two", "one"}
    assert len(train) + len(valid) + len(test) == 23
    assert len(valid) >= 1 and len(test) >= 1
    with pytest.raises(RatchetError, match="too few"):
        stratified_split(_pool({"a": 1, "b": 1}), 0.15, None, seed=0)


def test_fingerprint_ignores_case_and_spacing() -> None:
    assert text_fingerprint("Great  Movie\n") == text_fingerprint("great movie")
    assert text_fingerprint("a", "b") != text_fingerprint("a", "c") != text_fingerprint("a")


def test_remove_test_overlap() -> None:
    train = pd.DataFrame({"text": ["Seen In Test", "unique", "other"], "label": ["a", "b", "a"]})
    valid = pd.DataFrame({"text": ["seen  in test", "fresh"], "label": ["a", "b"]})
    frames, counts = remove_test_overlap({"train": train, "valid": valid}, [text_fingerprint("seen in test")])
    assert counts == {"train": 1, "valid": 1}
    assert frames["train"]["text"].tolist() == ["unique", "other"]
    assert frames["valid"]["text"].tolist() == ["fresh"]
    with pytest.raises(RatchetError, match="no training rows left for class b"):
        check_train_covers(frames["train"].iloc[[1]], ["a", "b"])


def test_label_list_and_ids() -> None:
    assert label_list(pd.Series(["10", "2", "1"])) == ([1, 2, 10], "int")
    assert label_list(pd.Series(["-1", "1"])) == ([-1, 1], "int")
    assert label_list(pd.Series(["01", "2"])) == (["01", "2"], "str")
    assert label_list(pd.Series(["b", "a", "1"])) == (["1", "a", "b"], "str")
    assert label_ids(pd.Series(["10", "1"]), [1, 2, 10]).tolist() == [2, 0]


def test_float_labels_stay_numbers() -> None:
    assert label_list(pd.Series(["2.0", "1.0", "10.0"])) == ([1.0, 2.0, 10.0], "float")
    assert label_list(pd.Series(["0.5", "1.5"])) == ([0.5, 1.5], "float")
    assert label_ids(pd.Series(["10.0", "1.0"]), [1.0, 2.0, 10.0]).tolist() == [2, 0]
    # Spellings Python would not write back stay the strings the user wrote (no "1.50" -> 1.5 surprise).
    assert label_list(pd.Series(["1.50", "2.0"])) == (["1.50", "2.0"], "str")
    assert label_list(pd.Series(["nan", "1.0"])) == (["1.0", "nan"], "str")


def test_check_test_labels() -> None:
    check_test_labels(pd.DataFrame({"label": ["1", "2"]}), [1, 2])
    with pytest.raises(RatchetError, match="test labels unseen in training: x, y: fix the labels"):
        check_test_labels(pd.DataFrame({"label": ["y", "a", "x"]}), ["a"])
