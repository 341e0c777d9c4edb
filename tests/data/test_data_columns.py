"""Column detection and the standard frame."""

from __future__ import annotations

import pandas as pd
import pytest

from ratchet.config import DataParams
from ratchet.data.columns import resolve_columns, standardize
from ratchet.errors import RatchetError


def test_exact_names_case_insensitive() -> None:
    df = pd.DataFrame({"Unnamed: 0": ["1"], "drugName": ["x"], "Review": ["good stuff"], "rating": ["positive"]})
    cols = resolve_columns(df, DataParams())
    assert (cols.text, cols.label, cols.text_pair) == ("Review", "rating", None)
    assert set(cols.detected) == {"text", "label"}


def test_label_priority_and_partial_names() -> None:
    df = pd.DataFrame({"review_text": ["nice one"], "gold_label": ["a"], "stars": [5]})
    cols = resolve_columns(df, DataParams())
    assert (cols.text, cols.label) == ("review_text", "gold_label")
    # "label" beats "rating" when both exist.
    df = pd.DataFrame({"text": ["x"], "rating": [1], "label": ["a"]})
    assert resolve_columns(df, DataParams()).label == "label"


def test_longest_text_fallback_only_when_clear() -> None:
    df = pd.DataFrame({"title": ["short", "tiny"], "body": ["a much longer body text here", "another long body"]})
    df["y"] = ["a", "b"]
    cols = resolve_columns(df, DataParams(label_col="y"))
    assert cols.text == "body" and "longest" in cols.detected["text"]
    similar = pd.DataFrame({"a": ["same length", "text here"], "b": ["other words", "more of it"], "y": ["p", "q"]})
    with pytest.raises(RatchetError, match="--text-col NAME"):
        resolve_columns(similar, DataParams(label_col="y"))


def test_given_columns_and_errors() -> None:
    df = pd.DataFrame({"q": ["x"], "a": ["y"], "y": ["p"]})
    cols = resolve_columns(df, DataParams(text_col="q", text_pair_col="a", label_col="y"))
    assert (cols.text, cols.text_pair, cols.label, cols.detected) == ("q", "a", "y", {})
    with pytest.raises(RatchetError, match=r"column 'stars' not found; available: q, a, y: pass --label-col"):
        resolve_columns(df, DataParams(label_col="stars"))
    with pytest.raises(RatchetError, match="--text-col"):
        resolve_columns(df, DataParams(text_col="body", label_col="y"))
    with pytest.raises(RatchetError, match=r"no label column found.*--label-col"):
        resolve_columns(pd.DataFrame({"text": ["x"], "other": ["z"]}), DataParams())
    no_label = resolve_columns(pd.DataFrame({"text": ["x"]}), DataParams(), require_label=False)
    assert no_label.label is None


@pytest.mark.parametrize("values", [[None, None], [1, 2], ["3", "4.5"]])
def test_text_column_without_text(values) -> None:
    df = pd.DataFrame({"text": values, "label": ["a", "b"]}, dtype=object)
    cols = resolve_columns(df, DataParams())
    with pytest.raises(RatchetError, match=r"column 'text' holds no text.*--text-col"):
        standardize(df, cols)


def test_standardize_labels_and_missing() -> None:
    df = pd.DataFrame({"text": ["a", None, "c", "d", "e"], "label": [1.0, 2.0, float("nan"), " x ", ""]}, dtype=object)
    out = standardize(df, resolve_columns(df, DataParams()))
    assert list(out.columns) == ["text", "label"]
    assert out["text"].tolist() == ["a", "", "c", "d", "e"]
    # 1.0 from a gappy int column is the label "1"; NaN and blank are missing (dropped and counted later).
    assert out["label"].tolist() == ["1", "2", None, "x", None]
    pairs = pd.DataFrame({"s1": ["a"], "s2": ["b"], "label": [True]})
    out = standardize(pairs, resolve_columns(pairs, DataParams(text_col="s1", text_pair_col="s2")))
    assert out.to_dict("records") == [{"text": "a", "text_pair": "b", "label": "True"}]
