"""Outputs a user opens: formats by extension, spreadsheet formulas neutralised in CSV only, inputs untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ratchet.data.output import (
    neutralize_formula_text,
    restore_formula_text,
    write_table,
)
from ratchet.errors import RatchetError

HOSTILE = ["=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTAB", "\rCR", "'=quoted", "''@two", "plain", "it's fine", "'"]


@pytest.mark.parametrize("text", HOSTILE)
def test_neutralising_is_reversible_and_defuses_every_formula(text: str) -> None:
    safe = neutralize_formula_text(text)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore_formula_text(safe) == text
    if not text.lstrip("'").startswith(("=", "+", "-", "@", "\t", "\r")):
        assert safe == text  # ordinary texts, apostrophes included, are written as they are


def test_csv_and_tsv_are_neutralised_parquet_and_json_stay_exact(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ['=HYPERLINK("http://x")', "-5 stars", "good"], "prob_a": [0.1, -0.5, 1.0]})
    for name in ("p.csv", "p.tsv"):
        write_table(tmp_path / name, frame)
        back = pd.read_csv(tmp_path / name, sep="," if name.endswith("csv") else "\t", dtype={"text": str})
        assert back["text"].tolist() == ['\'=HYPERLINK("http://x")', "'-5 stars", "good"]
        assert back["prob_a"].tolist() == [0.1, -0.5, 1.0]  # numbers are numbers, never prefixed
    write_table(tmp_path / "p.parquet", frame)
    assert pd.read_parquet(tmp_path / "p.parquet")["text"].tolist() == frame["text"].tolist()
    write_table(tmp_path / "p.jsonl", frame)
    lines = (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == frame["text"].tolist()
    write_table(tmp_path / "p.json", frame)
    assert [row["text"] for row in json.loads((tmp_path / "p.json").read_text())] == frame["text"].tolist()


def test_an_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RatchetError, match=r"\.csv, \.tsv, \.jsonl, \.json, \.parquet"):
        write_table(tmp_path / "p.xlsx", pd.DataFrame({"a": [1]}))
