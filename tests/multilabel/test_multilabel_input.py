"""The three multi-label input forms, auto-detection, and bad label sets (one-line errors, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from ratchet.config import DataParams
from ratchet.data.columns import resolve_columns, standardize
from ratchet.data.label_checks import label_set_report
from ratchet.data.multilabel import label_matrix, label_union
from ratchet.errors import RatchetError

TEXTS = ["goal scored in the match", "senate passes the budget", "new laptop for the senate", "pizza at the match"]
SETS = [["sports"], ["politics"], ["politics", "tech"], ["food", "sports"]]
EXPECTED = [json.dumps(sorted(s)) for s in SETS]


def standard(frame: pd.DataFrame, **params) -> pd.DataFrame:
    columns = resolve_columns(frame, DataParams(**params))
    assert columns.multilabel
    return standardize(frame, columns)


def test_json_lists_are_detected_without_flags() -> None:
    frame = pd.DataFrame({"text": TEXTS, "labels": [json.dumps(s) for s in SETS]})
    assert standard(frame)["label"].tolist() == EXPECTED


def test_list_cells_from_json_or_parquet_are_label_sets() -> None:
    frame = pd.DataFrame({"text": TEXTS, "labels": SETS})
    assert standard(frame)["label"].tolist() == EXPECTED


def test_delimited_string_with_label_sep() -> None:
    frame = pd.DataFrame({"text": TEXTS, "label": ["sports", "politics", "tech | politics", "sports|food|sports"]})
    assert standard(frame, label_sep="|")["label"].tolist() == EXPECTED


def test_indicator_columns_with_label_cols() -> None:
    frame = pd.DataFrame({
        "text": TEXTS,
        "sports": [1, 0, 0, 1], "politics": [0, 1, 1, 0], "tech": ["0", "0", "1", "0"],
        "food": [False, False, False, True],
    })  # fmt: skip
    out = standard(frame, label_cols=("sports", "politics", "tech", "food"))
    assert out["label"].tolist() == EXPECTED


def test_single_label_columns_stay_single_label() -> None:
    frame = pd.DataFrame({"text": TEXTS, "label": ["a", "b", "a", "b"]})
    columns = resolve_columns(frame, DataParams())
    assert not columns.multilabel
    assert standardize(frame, columns)["label"].tolist() == ["a", "b", "a", "b"]


def test_label_matrix_and_inspect_section() -> None:
    labels = label_union(EXPECTED)
    assert labels == ["food", "politics", "sports", "tech"]
    matrix = label_matrix(EXPECTED, labels)
    assert matrix.tolist() == [[0, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]]
    section = label_set_report(pd.Series(EXPECTED))
    assert section["cardinality"] == 1.5
    assert section["label_rows"] == {"food": 1, "politics": 2, "sports": 2, "tech": 1}
    assert section["rare"] == ["food", "politics", "sports", "tech"]  # all under 10 rows
    politics, tech = labels.index("politics"), labels.index("tech")
    assert section["cooccurrence"][politics][tech] == 1
    assert section["cooccurrence"][politics][politics] == 2


@pytest.mark.parametrize(
    ("labels", "params", "message"),
    [
        (['["a"]', "b", '["a", "b"]', '["b"]'], {}, "mixes JSON lists and plain labels"),
        (['["a"]', "[]", '["a", "b"]', '["b"]'], {}, "empty label set"),
        (["a|b", '["a"]', "b", "a"], {"label_sep": "|"}, "is a JSON list but --label-sep"),
        (["a|b", " | ", "b", "a"], {"label_sep": "|"}, "empty label set"),
    ],
)
def test_bad_label_sets(labels, params, message) -> None:
    frame = pd.DataFrame({"text": TEXTS, "label": labels})
    with pytest.raises(RatchetError, match=message):
        standard(frame, **params)


def test_indicator_column_that_is_not_zero_one() -> None:
    frame = pd.DataFrame({"text": TEXTS, "a": [1, 0, 2, 0], "b": [0, 1, 0, 1]})
    with pytest.raises(RatchetError, match="not 0 or 1"):
        standard(frame, label_cols=("a", "b"))


@pytest.mark.parametrize(
    ("cells", "message"),
    [(['["x"]', "y", '["x", "y"]', '["y"]'], "mixes JSON lists"), (['["x"]', "[]", '["x", "y"]', '["y"]'], "empty")],
)
def test_bad_input_exits_2_with_one_line(tmp_path, cells, message) -> None:
    data = tmp_path / "data.csv"
    pd.DataFrame({"text": TEXTS, "labels": cells}).to_csv(data, index=False)
    done = subprocess.run([sys.executable, "-m", "ratchet.cli", "run", str(data), "--out", str(tmp_path / "run"),
                           "--model", "linear", "--quiet"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not (tmp_path / "run").exists()
