"""Reviewed label fixes: parsing the accept column and applying it to training rows only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ratchet.data.split import text_fingerprint
from ratchet.errors import RatchetError
from ratchet.relabel.fixes import apply_label_fixes, read_label_fixes, reviewed_fingerprints

LABELS = ["neg", "pos"]


def write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "label_issues.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def row(text: str, given: str, suggested: str, accept: str) -> dict:
    return {"text": text, "given_label": given, "suggested_label": suggested, "confidence": 0.9, "accept": accept}


def test_accept_reject_drop_and_unreviewed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            row("Awful drug", "pos", "neg", "yes"),
            row("fine", "neg", "pos", "no"),
            row("spam spam", "pos", "neg", "DROP"),
            row("not looked at", "pos", "neg", ""),
            row("gone since", "pos", "neg", "y"),
            row("relabeled since", "pos", "neg", "x"),
        ],
    )
    fixes = read_label_fixes(path, LABELS)
    assert [f.action for f in fixes] == ["relabel", "keep", "drop", "relabel", "relabel"]
    assert reviewed_fingerprints(fixes) >= {text_fingerprint("fine"), text_fingerprint("awful  DRUG")}
    train = pd.DataFrame(
        {
            # Matching ignores case and spacing, like every fingerprint in ratchet.
            "text": ["awful   drug", "fine", "spam spam", "not looked at", "relabeled since", "other"],
            "label": ["pos", "neg", "pos", "pos", "neg", "pos"],
        }
    )
    fixed, counts = apply_label_fixes(train, fixes)
    assert counts == {"relabeled": 1, "dropped": 1, "confirmed": 1, "stale": 1, "not_in_train": 1}
    assert fixed["text"].tolist() == ["awful   drug", "fine", "not looked at", "relabeled since", "other"]
    assert fixed["label"].tolist() == ["neg", "neg", "pos", "neg", "pos"]


def test_bad_files_fail_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(RatchetError, match="does not exist"):
        read_label_fixes(tmp_path / "missing.csv", LABELS)
    no_accept = write(tmp_path, [{"text": "a", "given_label": "pos", "suggested_label": "neg"}])
    with pytest.raises(RatchetError, match=r"lacks column.*accept"):
        read_label_fixes(no_accept, LABELS)
    unknown = write(tmp_path, [row("a", "pos", "meh", "yes")])
    with pytest.raises(RatchetError, match="line 2: suggested_label 'meh' is not a known label"):
        read_label_fixes(unknown, LABELS)
    vague = write(tmp_path, [row("a", "pos", "neg", "maybe")])
    with pytest.raises(RatchetError, match="accept value 'maybe' is not understood"):
        read_label_fixes(vague, LABELS)


def test_a_formula_like_text_is_neutralised_in_the_review_file_and_still_matches(tmp_path: Path) -> None:
    from ratchet.data.output import write_table

    hostile = '=HYPERLINK("http://evil","click") great drug'
    path = tmp_path / "label_issues.csv"
    write_table(path, pd.DataFrame([row(hostile, "neg", "pos", "yes"), row("-5 stars, awful", "pos", "neg", "yes")]))
    raw = pd.read_csv(path, dtype=str)["text"].tolist()
    assert raw == ["'" + hostile, "'-5 stars, awful"]  # a spreadsheet shows these as text, never runs them
    fixes = read_label_fixes(path, LABELS)
    assert [f.fingerprint for f in fixes] == [text_fingerprint(hostile), text_fingerprint("-5 stars, awful")]
    train = pd.DataFrame({"text": [hostile, "-5 stars, awful"], "label": ["neg", "pos"]})
    fixed, counts = apply_label_fixes(train, fixes)
    assert counts["relabeled"] == 2 and fixed["label"].tolist() == ["pos", "neg"]
