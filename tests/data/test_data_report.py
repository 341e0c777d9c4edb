"""The data report: its sections, the summary lines, and ``inspect`` on the real drug reviews."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ratchet.config import CleanParams, DataParams
from ratchet.data.clean import clean_frame
from ratchet.data.report import build_data_report, inspect_data, length_stats, summarize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "drug_reviews"


def test_inspect_drug_reviews() -> None:
    report = inspect_data(EXAMPLES / "train.tsv", DataParams(), CleanParams())
    assert {"rows", "duplicates", "conflicts", "classes", "lengths", "columns", "repairs", "warnings"} <= set(report)
    assert report["rows"]["in"] == 600
    assert report["classes"]["counts"] == {"positive": 385, "negative": 161, "neutral": 54}
    assert report["columns"]["text"] == "review" and report["columns"]["label"] == "rating"
    assert report["repairs"]["quotes_stripped"] == 600  # every review is wrapped in """..."""
    assert report["repairs"]["html_unescaped"] > 300  # &#039; everywhere
    words = report["lengths"]["words"]
    assert words["min"] <= words["median"] <= words["p95"] <= words["max"]
    assert report["warnings"] == []
    lines = summarize(report)
    assert 3 <= len(lines) <= 10
    assert lines[0].startswith("rows: 600 read")
    assert any("positive 385" in line for line in lines)


def test_build_report_sections_and_warnings(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["a b", "a b", "c", "d"], "label": ["x", "y", "x", "z"]})
    cleaned, counts = clean_frame(frame, CleanParams())
    report = build_data_report(
        counts, {"train": 1, "valid": 1}, {"train": 1, "valid": 0}, lengths=length_stats(cleaned)
    )
    assert report["conflicts"] == {"groups": 1, "resolved": 0, "dropped": 1, "rows_removed": 2}
    assert report["splits"] == {"train": 1, "valid": 1}
    assert report["test_overlap_removed"] == {"train": 1, "valid": 0}
    assert report["lengths"]["chars"]["max"] == 1
    text = "\n".join(summarize(report))
    assert "1 ties dropped" in text and "copies of test texts: train 1" in text
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    inspected = inspect_data(path, DataParams(), CleanParams())
    # Single-example classes would stop a run; inspect reports them instead.
    assert len(inspected["warnings"]) == 1 and "only 1 example" in inspected["warnings"][0]
