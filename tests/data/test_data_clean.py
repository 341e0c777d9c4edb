"""Text repair, duplicate merging, conflict resolution and class checks, all counted."""

from __future__ import annotations

import pandas as pd
import pytest

from ratchet.config import CleanParams
from ratchet.data.clean import (
    clean_frame,
    normalize_frame,
    normalize_text,
    strip_wrapping_quotes,
    unescape_entities,
    validate_classes,
)
from ratchet.errors import RatchetError


def test_text_repairs() -> None:
    assert normalize_text("cafÃ© is   nice\r\n") == "café is nice"
    assert unescape_entities("I didn&amp;#039;t") == "I didn't"
    assert unescape_entities("R&D&not here;&notes") == "R&D&not here;&notes"  # no ";", no entity
    assert normalize_text('"""I didn&#039;t like it. """') == "I didn't like it."
    assert strip_wrapping_quotes('"a" and "b"') == '"a" and "b"'
    assert strip_wrapping_quotes('""quoted""') == "quoted"
    assert normalize_text("e\u0301") == "\u00e9"  # NFC
    assert normalize_text(None) == "" and normalize_text(float("nan")) == ""
    off = CleanParams(fix_unicode=False, unescape_html=False, strip_wrapping_quotes=False, collapse_whitespace=False)
    assert normalize_text('"cafÃ©  &#039;"', off) == '"cafÃ©  &#039;"'


def _crafted() -> pd.DataFrame:
    rows = [
        ("cafÃ© was great", "pos"),  # mojibake -> "café was great"
        ("café was great", "pos"),  # duplicate of the repaired row 0
        ("I didn&#039;t  like it", "neg"),
        ("I didn't like it", "neg"),  # duplicate after unescape + whitespace
        ("mixed feelings", "pos"),  # conflict 2 pos : 1 neg -> pos
        ("mixed feelings", "neg"),
        ("mixed feelings", "pos"),
        ("coin toss", "pos"),  # tie 1:1 -> dropped
        ("coin toss", "neg"),
        ("   ", "neg"),  # empty
        ("no label here", None),  # missing label
        ("plain text", "neg"),
    ]
    return pd.DataFrame({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]}, dtype=object)


def test_clean_frame_counts() -> None:
    out, report = clean_frame(_crafted(), CleanParams())
    assert out["text"].tolist() == ["café was great", "I didn't like it", "mixed feelings", "plain text"]
    assert out["label"].tolist() == ["pos", "neg", "pos", "neg"]
    expected = {
        "rows_in": 12,
        "rows_out": 4,
        "repaired_unicode": 1,
        "html_unescaped": 1,
        "whitespace_collapsed": 2,
        "empty_dropped": 1,
        "missing_label_dropped": 1,
        "duplicate_rows": 5,
        "duplicates_merged": 2,
        "conflict_groups": 2,
        "conflicts_resolved": 1,
        "conflicts_dropped": 1,
        "conflict_rows_removed": 4,
    }
    assert {k: report[k] for k in expected} == expected
    assert report["classes"] == {"neg": 2, "pos": 2}
    accounted = sum(report[k] for k in ("missing_label_dropped", "empty_dropped", "duplicates_merged"))
    assert report["rows_in"] - accounted - report["conflict_rows_removed"] == report["rows_out"]


def test_merging_off_still_counts() -> None:
    out, report = clean_frame(_crafted(), CleanParams(merge_duplicates=False))
    assert len(out) == 10
    assert (report["duplicate_rows"], report["conflict_groups"], report["duplicates_merged"]) == (5, 2, 0)


def test_pairs_are_part_of_the_duplicate_key() -> None:
    df = pd.DataFrame({"text": ["a", "a", "a"], "text_pair": ["x", "y", "x"], "label": ["p", "q", "p"]})
    out, report = clean_frame(df, CleanParams())
    assert out.to_dict("records") == [
        {"text": "a", "text_pair": "x", "label": "p"},
        {"text": "a", "text_pair": "y", "label": "q"},
    ]
    assert report["duplicates_merged"] == 1 and report["conflict_groups"] == 0


def test_normalize_frame_keeps_every_test_row() -> None:
    out, report = normalize_frame(_crafted(), CleanParams())
    assert len(out) == 10 and report["rows_out"] == 10
    assert out["text"].tolist().count("mixed feelings") == 3
    assert report["empty_dropped"] == 1 and report["missing_label_dropped"] == 1


def test_validate_classes() -> None:
    validate_classes(pd.DataFrame({"label": ["a", "a", "b", "b"]}))
    with pytest.raises(RatchetError, match="only one class"):
        validate_classes(pd.DataFrame({"label": ["a", "a"]}))
    with pytest.raises(RatchetError, match=r"class 'x' has only 1 example: add examples or remove the class"):
        validate_classes(pd.DataFrame({"label": ["a", "a", "b", "b", "x"]}))
    with pytest.raises(RatchetError, match="2 classes have only 1 example"):
        validate_classes(pd.DataFrame({"label": ["a", "a", "x", "y"]}))


MOJIBAKE_AND_CLEAN = [
    *("cafÃ©", "café naïve", "â€œquotedâ€\x9d", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "æ—¥æœ¬èªž", "日本語", "e\u0301", "ﬁne"),
    *("\ufeffbom", "Ã  la", "Ã¢â‚¬â„¢ twice", "São Paulo", "I\x00x", "emoji 😀"),
]


@pytest.mark.parametrize("text", MOJIBAKE_AND_CLEAN)
def test_fast_path_agrees_with_ftfy(text: str) -> None:
    # repair_unicode skips ftfy for texts without a mojibake signature: the result must be the same.
    import ftfy

    from ratchet.data.clean import _FTFY, repair_unicode

    assert repair_unicode(text) == ftfy.fix_text(text, _FTFY)
