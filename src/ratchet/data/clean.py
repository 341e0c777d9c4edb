"""Text repair and label hygiene for the standard frame, with a count for everything changed.

The same per-text repair (``normalize_text``) must run wherever text enters a
model - training pool, test file, prediction input - so a text is tokenized
the same way at train and at predict time. Merging duplicates and resolving
conflicting labels happens only on the training pool (``clean_frame``); the
test set keeps every row the user gave (``normalize_frame``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import ftfy
import pandas as pd

from ratchet.config import CleanParams
from ratchet.errors import RatchetError

# Only entities closed by ";": html.unescape alone would also turn "&not" in "R&notes" into "¬".
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
# UTF-8 read as Latin-1/cp1252 leaves a lead byte (Â..ô) followed by a continuation byte as shown by
# cp1252 (\x80-\xbf or one of its specials: € ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ);
# C1 controls, surrogates, ligatures, BOMs and replacement characters are also ftfy's business.
_SUSPECT = re.compile(
    "[\u0080-\u009f\ud800-\udfff\ufb00-\ufb06\ufeff\ufff9-\ufffd]"
    "|[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
    "|[\u00c2\u00c3] "
)
# Conservative ftfy: repair mojibake and NFC-normalize, but keep curly quotes, full-width forms,
# line breaks (whitespace is handled separately) and entities (unescaped separately, counted apart).
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_character_width=False,
    fix_line_breaks=False,
    normalization="NFC",
    explain=False,
)
_DEFAULT = CleanParams()
STAGES = ("quotes_stripped", "html_unescaped", "repaired_unicode", "whitespace_collapsed")


def strip_wrapping_quotes(text: str) -> str:
    """``\"\"\"text\"\"\"`` -> ``text``, only when no other quote is inside (so ``"a" and "b"`` stays)."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] != '"' or stripped[-1] != '"':
        return text
    lead = len(stripped) - len(stripped.lstrip('"'))
    trail = len(stripped) - len(stripped.rstrip('"'))
    k = min(lead, trail)
    inner = stripped[k : len(stripped) - k]
    return inner if '"' not in inner else text


def unescape_entities(text: str) -> str:
    """Decode HTML entities, twice-encoded ones too (``&amp;#039;`` -> ``&#039;`` -> ``'``)."""
    for _ in range(3):
        if "&" not in text:
            break
        decoded = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
        if decoded == text:
            break
        text = decoded
    return text


def repair_unicode(text: str) -> str:
    """Mojibake repair (``cafÃ©`` -> ``café``) and NFC; ASCII text can only carry control characters."""
    if text.isascii():
        return _CONTROL.sub("", text)
    # ftfy costs ~150 us a text; only texts holding a mojibake signature (or a character ftfy
    # rewrites) go through it, which makes cleaning 100k non-English rows take seconds, not minutes.
    if _SUSPECT.search(text):
        return ftfy.fix_text(text, _FTFY)
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def collapse_whitespace(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _stages(params: CleanParams) -> list[tuple[str, Any]]:
    # Quotes go first, while an entity such as &quot; cannot yet pose as a wrapping quote.
    wanted = {
        "quotes_stripped": params.strip_wrapping_quotes,
        "html_unescaped": params.unescape_html,
        "repaired_unicode": params.fix_unicode,
        "whitespace_collapsed": params.collapse_whitespace,
    }
    functions = {
        "quotes_stripped": strip_wrapping_quotes,
        "html_unescaped": unescape_entities,
        "repaired_unicode": repair_unicode,
        "whitespace_collapsed": collapse_whitespace,
    }
    return [(name, functions[name]) for name in STAGES if wanted[name]]


def normalize_text(text: Any, params: CleanParams | None = None) -> str:
    """The per-text repair, for one text (prediction input, unlabeled corpora); missing -> ""."""
    if text is None or text is pd.NA or (isinstance(text, float) and text != text):
        return ""
    text = str(text)
    for _, function in _stages(params or _DEFAULT):
        text = function(text)
    return text


def normalize_texts(texts: Iterable[Any], params: CleanParams | None = None) -> list[str]:
    return [normalize_text(t, params) for t in texts]


def _repair_frame(df: pd.DataFrame, params: CleanParams) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply every stage to text (and pair); a row counts for a stage if the stage changed it."""
    df = df.copy()
    counts = {name: 0 for name in STAGES}
    columns = [c for c in ("text", "text_pair") if c in df.columns]
    changed = {name: [False] * len(df) for name in STAGES}
    for column in columns:
        values = list(df[column])
        for name, function in _stages(params):
            flags = changed[name]
            for i, value in enumerate(values):
                new = function(value)
                if new != value:
                    values[i] = new
                    flags[i] = True
        df[column] = pd.Series(values, index=df.index, dtype=object)
    for name in STAGES:
        counts[name] = sum(changed[name])
    return df, counts


def _drop_unusable(df: pd.DataFrame, report: dict[str, Any]) -> pd.DataFrame:
    if "label" in df.columns:
        missing = df["label"].isna()
        report["missing_label_dropped"] = int(missing.sum())
        df = df[~missing]
    return df


def _drop_empty(df: pd.DataFrame, report: dict[str, Any]) -> pd.DataFrame:
    empty = df["text"].str.strip() == ""
    if "text_pair" in df.columns:
        empty |= df["text_pair"].str.strip() == ""
    report["empty_dropped"] = int(empty.sum())
    return df[~empty]


def normalize_frame(df: pd.DataFrame, params: CleanParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Test data: the same text repair, rows without label or text dropped, nothing merged."""
    report: dict[str, Any] = {"rows_in": len(df), "missing_label_dropped": 0}
    df = _drop_unusable(df, report)
    df, stage_counts = _repair_frame(df, params)
    report.update(stage_counts)
    df = _drop_empty(df, report).reset_index(drop=True)
    report["rows_out"] = len(df)
    if "label" in df.columns:
        report["classes"] = class_counts(df)
    return df, report


def clean_frame(df: pd.DataFrame, params: CleanParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training pool: repair, drop unusable rows, merge duplicates, resolve label conflicts.

    Row accounting: rows_out = rows_in - missing_label_dropped - empty_dropped
    - duplicates_merged - conflict_rows_removed.
    """
    report: dict[str, Any] = {"rows_in": len(df), "missing_label_dropped": 0}
    df = _drop_unusable(df, report)
    df, stage_counts = _repair_frame(df, params)
    report.update(stage_counts)
    df = _drop_empty(df, report)
    df, dup_report = _merge_duplicates(df, params.merge_duplicates)
    report.update(dup_report)
    df = df.reset_index(drop=True)
    report["rows_out"] = len(df)
    report["classes"] = class_counts(df)
    return df, report


def _merge_duplicates(df: pd.DataFrame, merge: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per exact text (+pair); a conflict goes to the majority label, a tie drops the text."""
    key = df["text"] if "text_pair" not in df.columns else df["text"] + "\x1f" + df["text_pair"]
    per_label = df.groupby([key.rename("_key"), df["label"]], sort=False).size()
    n_labels = per_label.groupby(level=0, sort=False).size()
    conflict_keys = set(n_labels.index[n_labels > 1])
    majority: dict[str, str] = {}
    tied: set[str] = set()
    for k in conflict_keys:
        counts = per_label.loc[k].sort_values(ascending=False)
        if len(counts) > 1 and counts.iloc[0] == counts.iloc[1]:
            tied.add(k)
        else:
            majority[k] = counts.index[0]
    in_conflict = key.isin(conflict_keys)
    report = {
        "duplicate_rows": int(key.duplicated().sum()),
        "duplicates_merged": 0,
        "conflict_groups": len(conflict_keys),
        "conflicts_resolved": 0,
        "conflicts_dropped": 0,
        "conflict_rows_removed": 0,
    }
    if not merge:
        return df, report
    keep_plain = ~in_conflict & ~key.duplicated()
    wins = in_conflict & (key.map(majority) == df["label"])
    keep_resolved = pd.Series(False, index=df.index)
    keep_resolved[wins[wins].index] = ~key[wins].duplicated().to_numpy()
    kept = df[keep_plain | keep_resolved]
    report["duplicates_merged"] = int((~in_conflict).sum() - keep_plain.sum())
    report["conflicts_resolved"] = len(majority)
    report["conflicts_dropped"] = len(tied)
    report["conflict_rows_removed"] = int(in_conflict.sum() - keep_resolved.sum())
    return kept, report


def class_counts(df: pd.DataFrame) -> dict[str, int]:
    """Label -> rows, most frequent first (ties by label) so reports read top-down."""
    counts = df["label"].value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))}


def validate_classes(df: pd.DataFrame) -> None:
    """A classifier needs two classes, and a class needs two examples (one to learn, one to check)."""
    counts = df["label"].value_counts()
    if len(counts) == 0:
        raise RatchetError("no labeled rows left after cleaning: check --text-col and --label-col")
    if len(counts) < 2:
        raise RatchetError(
            f"only one class ('{counts.index[0]}') in the labels: a classifier needs at least 2; check --label-col"
        )
    singles = sorted(str(k) for k in counts.index[counts == 1])
    if len(singles) == 1:
        raise RatchetError(f"class '{singles[0]}' has only 1 example: add examples or remove the class")
    if singles:
        shown = ", ".join(f"'{s}'" for s in singles[:5]) + (f" and {len(singles) - 5} more" if len(singles) > 5 else "")
        raise RatchetError(
            f"{len(singles)} classes have only 1 example ({shown}): add examples or remove those classes"
        )
