"""The data section shows data_report.json as tables (readable names, formatted numbers, no dumps);
every shortened text ends with an ellipsis and keeps the whole text, escaped, in its ``title``."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from fake_run_folder import EVIL, make_fake_run
from headless_chromium import table_rows

from ratchet.fsutil import write_json
from ratchet.reporting.bars import column_chart, hbar_chart
from ratchet.reporting.data_section import data_section
from ratchet.reporting.html import ELLIPSIS, clip, shortened
from ratchet.reporting.report import build_report
from ratchet.reporting.rundata import load_run

# Keys a real run adds to data_report.json beyond the fake run's (shapes as ratchet.data and steps/split write them).
REAL_KEYS = {
    "columns": {"text": "review", "text_pair": None, "label": "sentiment",
                "detected": {"label": "column name 'sentiment'", "text": "column name 'review'"}},
    "test": {"rows_in": 1200, "missing_label_dropped": 3, "html_unescaped": 0, "empty_dropped": 0, "rows_out": 1197,
             "classes": {"negative": 400, "neutral": 397, "positive": 400},
             "columns": {"text": "review", "text_pair": None, "label": "sentiment"}},
    "coverage": {"model": "bert-tiny", "rows_sampled": 571, "unk_share_words": 0.0123, "unk_share_chars": 0.00042,
                 "pieces_per_word": 1.31, "words": 45210, "unknown_examples": ["好", "<i>x</i>"], "poor": False},
    "languages": {"rows_sampled": 571, "scripts": {"Latin": 560, "Han": 11}, "mixed_script_rows": 4,
                  "latin_languages": {"en": 500, "fr": 55, "unknown": 5}},
    "split": {"valid_size": 0.15, "test_size": None, "seed": 0, "test_source": "file"},
    "label_fixes": {"file": "fixes.csv", "relabeled": 3, "dropped": 1, "confirmed": 0, "stale": 0, "not_in_train": 2},
    "new_analysis": {"coverage": 0.93, "nested": {"deep": [1, 2, {"x": [3]}]}, "rows": [{"a": 1, "b": {"c": 2}}]},
}  # fmt: skip


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path / "run")


def visible_text(markup: str) -> str:
    """What a reader sees: tags (and their attributes) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def test_data_report_dicts_are_tables_with_readable_names_and_formatted_numbers(run: Path) -> None:
    path = run / "data" / "data_report.json"
    report = json.loads(path.read_text())
    report["lengths"]["tokens"] = {"min": 5, "mean": 90.5, "median": 80.0, "p95": 200.0, "max": 1900,
                                   "model": "bert-tiny", "max_length": 128, "truncated_rows": 70,
                                   "truncated_share": 0.1226, "rows_sampled": 571}  # fmt: skip
    write_json(path, {**report, **REAL_KEYS})
    section = data_section(load_run(run))
    assert section is not None
    for table_id in ("data-cleaning", "data-classes", "data-splits", "data-split-settings", "data-lengths",
                     "data-columns", "data-test-file", "data-near-duplicates", "near-duplicate-examples",
                     "data-coverage", "data-scripts", "data-languages"):  # fmt: skip
        assert f'<table id="{table_id}"' in section, table_id
    # Every dict of the report renders as a table: each heading is followed by one before the next heading.
    blocks = re.split(r"<h3>", section)[1:]
    assert len(blocks) == 11
    for block in blocks:
        assert "<table" in block or "<figure" in block or 'class="note"' in block, block[:200]
    for key in ("label fixes", "new analysis"):
        block = next(b for b in blocks if b.startswith(key))
        assert "<table" in block
    text = visible_text(section)
    # No raw dumps of dicts or lists, and no machine keys.
    assert "{" not in text and "}" not in text and "':" not in text and '":' not in text and "[" not in text
    for raw in ("unk_share_words", "missing_label_dropped", "rows_out", "valid_size", "test_source", "truncated_share"):
        assert raw not in text, raw
    # Counts get thousands separators; shares are percentages.
    rows, _ = table_rows(section, "data-lengths")
    assert rows[1] == ["characters", "3", "410.2", "380", "900", "2,100"]
    cleaning, _ = table_rows(section, "data-cleaning")
    assert ["", "rows kept", "571", "95.2%"] in cleaning and ["", "HTML entities unescaped", "75", "12.5%"] in cleaning
    classes, _ = table_rows(section, "data-classes")
    assert classes[0] == ["class", "rows", "share", "test rows", "test share"]
    assert ["positive", "331", "58.0%", "400", "33.4%"] in classes
    coverage, _ = table_rows(section, "data-coverage")
    assert ["words mapped to the unknown token", "1.2%"] in coverage
    assert ["characters mapped to the unknown token", "0.042%"] in coverage
    assert ["words counted", "45,210"] in coverage
    settings, _ = table_rows(section, "data-split-settings")
    assert ["validation share", "15.0%"] in settings and ["test set from", "the --test file"] in settings
    languages, _ = table_rows(section, "data-languages")
    assert ["French", "55", "9.8%"] in languages
    assert "70 rows (12.3%) are longer than max_length 128" in text
    # Untrusted strings stay escaped.
    assert "<i>x</i>" not in section and "&lt;i&gt;x&lt;/i&gt;" in section
    assert "<script>" not in section


class _Spans(HTMLParser):
    """(text, title) of every <span class="text"> in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[list[str | None]] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "span" and dict(attrs).get("class") == "text":
            self.spans.append(["", dict(attrs).get("title")])
            self._open = True

    def handle_endtag(self, tag: str) -> None:
        self._open = self._open and tag != "span"

    def handle_data(self, data: str) -> None:
        if self._open:
            self.spans[-1][0] = str(self.spans[-1][0]) + data


def spans(markup: str) -> list[tuple[str, str | None]]:
    parser = _Spans()
    parser.feed(markup)
    return [(str(text), title) for text, title in parser.spans]


def test_shortened_text_ends_with_an_ellipsis_and_carries_the_whole_text_escaped() -> None:
    long = "word " * 100 + EVIL
    out = shortened(long, 40, class_="text")
    assert "<script>" not in out and "&lt;script&gt;" in out
    [(shown, title)] = spans(out)
    assert shown.endswith(ELLIPSIS) and len(shown) <= 40 and long.startswith(shown[:-1])
    assert not shown[:-1].endswith(" ")  # no dangling space before the ellipsis
    assert title == long  # the parser decodes the attribute: the whole text, escaped in the markup
    assert spans(shortened("short", 40, class_="text")) == [("short", None)]
    assert clip("x" * 10, 10) == "x" * 10 and clip("x" * 11, 10) == "x" * 9 + ELLIPSIS
    assert clip(None, 5) == ""


def test_every_shortened_text_in_the_report_ends_with_an_ellipsis(run: Path) -> None:
    long = "this review goes on and on " * 20 + EVIL
    valid = pd.read_parquet(run / "data" / "valid.parquet")
    valid["text"] = [f"{i} {long}" for i in range(len(valid))]
    valid.to_parquet(run / "data" / "valid.parquet", index=False)
    issues = pd.read_csv(run / "data" / "label_issues.csv")
    issues.loc[0, "text"] = long
    issues.to_csv(run / "data" / "label_issues.csv", index=False)
    report = json.loads((run / "data" / "data_report.json").read_text())
    report["near_duplicates"]["examples"] = [{"a": long, "b": "short", "sim": 0.91}]
    write_json(run / "data" / "data_report.json", report)
    folder = run / "steps" / "99-selftrain"
    folder.mkdir()
    write_json(folder / "manifest.json", {"step": "selftrain", "status": "rejected", "metrics": {}})
    pd.DataFrame({"text": [long, "fine"], "label": ["positive", "neutral"], "confidence": [0.99, 0.6]}).to_parquet(
        folder / "pseudo_labels.parquet", index=False
    )
    page = build_report(run).read_text()
    assert "<script>document" not in page
    found = spans(page)
    cut = [(shown, title) for shown, title in found if title is not None]
    # confident mistakes (several rows), one label issue, one near-duplicate, one pseudo-label at least
    assert len(cut) >= 4
    for shown, title in cut:
        assert shown.endswith(ELLIPSIS), shown
        assert title is not None and title.startswith(shown[:-1]) and title.endswith(EVIL)
    for shown, title in found:
        assert title is not None or not shown.endswith(ELLIPSIS), "a cut text without its whole text on hover"
    for table_id in ("confident-mistakes", "label-issues", "near-duplicate-examples", "selftrain-examples"):
        assert any(ELLIPSIS in cell for row in table_rows(page, table_id)[0] for cell in row), table_id


def test_shortened_bar_names_end_with_an_ellipsis_and_keep_the_whole_name_on_hover() -> None:
    name = "a very long class name <b>indeed</b> that cannot fit"
    for figure in (
        hbar_chart([name, "short"], [3.0, 1.0], title="t", value_label="rows"),
        column_chart([name, "short"], [3, 1], title="t", x_label="x", y_label="rows"),
    ):
        assert "<b>" not in figure
        texts = re.findall(r"<text[^>]*>(<title>(.*?)</title>)?([^<]*)</text>", figure)
        cut = [(html.unescape(title), html.unescape(shown)) for _, title, shown in texts if shown.endswith(ELLIPSIS)]
        assert len(cut) == 1
        title, shown = cut[0]
        assert title == name and name.startswith(shown[:-1])


def test_cross_fitted_runs_say_the_split_decides_no_step(run: Path) -> None:
    path = run / "data" / "data_report.json"
    report = json.loads(path.read_text())
    assert "judged out of fold" not in visible_text(data_section(load_run(run))).lower()
    judging = {"mode": "crossfit", "folds": 5, "judged_rows": 599, "reason": "599 rows, fewer than 5000"}
    write_json(path, {**report, "judging": judging})
    text = " ".join(visible_text(data_section(load_run(run))).split())
    assert "Judged out of fold: the 599 train+validation rows fall into 5 stratified folds" in text
    assert "the split above decides no step" in text
