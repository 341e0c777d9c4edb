"""inspect and the data report say how many texts are longer than max_length, and whether chunk will run."""

from __future__ import annotations

from pathlib import Path

import pytest
from chunk_docs import corpus, decisive_rows, short_rows, write_csv

from ratchet.config import CleanParams, DataParams
from ratchet.data.report import inspect_data, summarize


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from ratchet.models.tiny import build_tiny_model

    return build_tiny_model("bert", corpus(), tmp_path_factory.mktemp("report-bert"), vocab_size=400, seed=0)


def report_of(tmp_path: Path, rows: list, model: Path, threshold: float | None = None) -> dict:
    data = write_csv(tmp_path / "data.csv", rows)
    return inspect_data(data, DataParams(), CleanParams(near_duplicates=False), model=str(model), max_length=16,
                        chunk_threshold=threshold)  # fmt: skip


def test_a_third_of_long_texts_passes_the_threshold_and_inspect_says_chunk_runs(tmp_path, tiny_bert) -> None:
    rows = decisive_rows(20, seed=1) + short_rows(40, seed=2)
    tokens = report_of(tmp_path, rows, tiny_bert)["lengths"]["tokens"]
    assert tokens["truncated_rows"] == 20 and tokens["truncated_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert tokens["chunk"] == {"threshold": 0.1, "runs": True}
    lines = summarize(report_of(tmp_path, rows, tiny_bert))
    assert ("long texts: 33.3% longer than max_length 16 passes chunk.threshold 0.1: the chunk step trains on "
            "overlapping windows, judged against truncation") in lines  # fmt: skip


def test_below_the_threshold_the_report_says_chunk_is_skipped(tmp_path, tiny_bert) -> None:
    rows = decisive_rows(20, seed=1) + short_rows(40, seed=2)
    report = report_of(tmp_path, rows, tiny_bert, threshold=0.5)
    assert report["lengths"]["tokens"]["chunk"] == {"threshold": 0.5, "runs": False}
    assert any(
        line.endswith("does not pass chunk.threshold 0.5: the chunk step is skipped") for line in summarize(report)
    )


def test_the_html_data_section_states_the_share_and_the_chunk_decision() -> None:
    from ratchet.reporting.data_section import _lengths

    tokens = {"min": 5, "mean": 90.5, "median": 80.0, "p95": 200.0, "max": 1900, "model": "m", "max_length": 128,
              "truncated_rows": 190, "truncated_share": 0.333, "rows_sampled": 571,
              "chunk": {"threshold": 0.1, "runs": True}}  # fmt: skip
    text = " ".join(str(part) for part in _lengths({"lengths": {"tokens": tokens}}))
    assert "190 rows (33.3%) are longer than max_length 128 and get cut." in text
    assert "That is more than chunk.threshold (10.0%): the chunk step trains on overlapping windows" in text
