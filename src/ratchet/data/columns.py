"""Find the text and label columns, then reshape any table into the standard frame.

Detection is deliberately predictable: a column is picked by its name (exact
name first, then a name containing one of the words), and only the text column
has a content-based fallback, used when exactly one column clearly holds the
longest strings. Anything ambiguous is an error that names the flag to pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ratchet.config import DataParams
from ratchet.data.multilabel import (
    check_label_sets,
    holds_label_lists,
    sets_from_columns,
    sets_from_delimited,
    sets_from_lists,
)
from ratchet.errors import RatchetError

TEXT_NAMES = ("text", "sentence", "review", "content")
LABEL_NAMES = ("label", "labels", "sentiment", "target", "rating", "class", "category")
_FLAGS = {"text": "--text-col", "text_pair": "--text-pair-col", "label": "--label-col"}
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_INDEX_COLUMN = re.compile(r"^Unnamed: \d+$")  # what pandas calls a header-less index column
_SAMPLE = 2000  # rows looked at when judging what a column holds


@dataclass(frozen=True)
class ResolvedColumns:
    text: str
    text_pair: str | None = None
    label: str | None = None
    detected: dict[str, str] = field(default_factory=dict)
    """Role -> how it was auto-detected, e.g. {"label": "column name 'rating'"}; given columns are absent."""
    label_cols: tuple[str, ...] | None = None
    """Multi-label: 0/1 indicator columns, one per label (``label`` is then None)."""
    label_sep: str | None = None
    """Multi-label: the separator joining the labels in the ``label`` column."""
    multilabel: bool = False
    """Each row holds a label set (a JSON list column, ``label_sep`` or ``label_cols``)."""


def resolve_columns(df: pd.DataFrame, params: DataParams, require_label: bool = True) -> ResolvedColumns:
    """Decide which columns hold the text, the optional text pair and the label."""
    for role, given in (("text", params.text_col), ("text_pair", params.text_pair_col), ("label", params.label_col)):
        if given is not None:
            _check_exists(df, given, role)
    detected: dict[str, str] = {}
    if params.label_cols is not None:
        return _resolve_indicator_columns(df, params)
    label = params.label_col
    if label is None:
        exclude = tuple(c for c in (params.text_col, params.text_pair_col) if c)
        found = _match_name(df, LABEL_NAMES, exclude, text_only=False)
        if found is not None:
            label, detected["label"] = found
        elif require_label:
            raise RatchetError(
                f"no label column found (looked for {', '.join(LABEL_NAMES)}); available: {_available(df)}: "
                "pass --label-col NAME"
            )
    text = params.text_col
    if text is None:
        exclude = tuple(c for c in (label, params.text_pair_col) if c)
        text, detected["text"] = resolve_text_column(df, params, exclude)
    if label is not None and label in (text, params.text_pair_col):
        raise RatchetError(f"column '{label}' cannot be both text and label: pass --text-col and --label-col")
    if params.text_pair_col is not None and params.text_pair_col == text:
        raise RatchetError(f"column '{text}' cannot be both text and text pair: pass a different --text-pair-col")
    # predict (labels not required) never judges the label column's form: it only reads the text.
    multilabel = params.label_sep is not None or (require_label and label is not None and holds_label_lists(df[label]))
    if multilabel and params.label_sep is None:
        detected["label"] = f"{detected.get('label', 'given')}; its values are JSON lists: multi-label"
    return ResolvedColumns(text=text, text_pair=params.text_pair_col, label=label, detected=detected,
                           label_sep=params.label_sep, multilabel=multilabel)  # fmt: skip


def _resolve_indicator_columns(df: pd.DataFrame, params: DataParams) -> ResolvedColumns:
    """--label-cols: the labels are 0/1 columns, so no label column is looked for and none may be the text."""
    label_cols = tuple(params.label_cols or ())
    for column in label_cols:
        if column not in df.columns:
            raise RatchetError(f"--label-cols column '{column}' not found; available: {_available(df)}")
    detected: dict[str, str] = {}
    exclude = tuple(c for c in (*label_cols, params.text_pair_col) if c)
    text, how = resolve_text_column(df, params, exclude)
    if params.text_col is None:
        detected["text"] = how
    if text in label_cols:
        raise RatchetError(f"column '{text}' cannot be both text and a label column: fix --text-col or --label-cols")
    return ResolvedColumns(text=text, text_pair=params.text_pair_col, detected=detected, label_cols=label_cols,
                           multilabel=True)  # fmt: skip


def resolve_text_column(df: pd.DataFrame, params: DataParams, exclude: tuple[str, ...]) -> tuple[str, str]:
    """(column, how) for the text: the given one, a matching name, or the one clearly longest string column."""
    if params.text_col is not None:
        _check_exists(df, params.text_col, "text")
        return params.text_col, "given"
    found = _match_name(df, TEXT_NAMES, exclude, text_only=True)
    if found is not None:
        return found
    lengths = {
        col: _mean_length(df[col])
        for col in df.columns
        if col not in exclude and not _INDEX_COLUMN.match(col) and _holds_text(df[col])
    }
    ranked = sorted(lengths.items(), key=lambda item: -item[1])
    # "Clearly" = twice as long as the runner-up: a title next to a body is fine, two similar columns are not.
    if len(ranked) == 1 or (len(ranked) > 1 and ranked[0][1] >= 2 * ranked[1][1]):
        return ranked[0][0], f"longest text column '{ranked[0][0]}' (mean {ranked[0][1]:.0f} chars)"
    raise RatchetError(f"cannot tell which column holds the text; available: {_available(df)}: pass --text-col NAME")


def standardize(df: pd.DataFrame, cols: ResolvedColumns, require_label: bool = True) -> pd.DataFrame:
    """The standard frame: ``text`` [, ``text_pair``] [, ``label``], all strings.

    Missing texts become "" and missing labels None; ``clean_frame`` / ``normalize_frame``
    drop those rows and count them, so the data report accounts for every input row.
    """
    out = pd.DataFrame(index=range(len(df)))
    out["text"] = _text_values(df[cols.text], cols.text, "text")
    if cols.text_pair is not None:
        out["text_pair"] = _text_values(df[cols.text_pair], cols.text_pair, "text_pair")
    if cols.multilabel:
        if cols.label_cols is not None:
            sets = sets_from_columns(df, cols.label_cols)
        elif cols.label_sep is not None:
            sets = sets_from_delimited(df[cols.label], cols.label_sep)
        else:
            sets = sets_from_lists(df[cols.label])
        out["label"] = pd.Series(sets, dtype=object)
        check_label_sets(out["label"])
    elif cols.label is not None:
        out["label"] = pd.Series([label_string(v) for v in df[cols.label]], dtype=object)
    elif require_label:
        raise RatchetError("no label column resolved: pass --label-col NAME")
    return out


def label_string(value: Any) -> str | None:
    """A label as text: ints stay ints (1.0 from a column with gaps -> "1"), blanks are missing."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text or None


def _text_values(series: pd.Series, column: str, role: str) -> pd.Series:
    if not _holds_text(series):
        raise RatchetError(
            f"column '{column}' holds no text (all values missing or numbers): pass {_FLAGS[role]} with the "
            "column that holds the text"
        )
    return pd.Series(["" if _is_missing(v) else str(v) for v in series], dtype=object)


def _holds_text(series: pd.Series) -> bool:
    """True if some sampled value is a non-numeric string."""
    values = series.dropna()
    if values.empty:
        return False
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    sample = values.iloc[:_SAMPLE]
    return any(isinstance(v, str) and v.strip() and not _NUMBER.match(v) for v in sample)


def _mean_length(series: pd.Series) -> float:
    sample = series.dropna().iloc[:_SAMPLE]
    return float(np.mean([len(str(v)) for v in sample])) if len(sample) else 0.0


def _match_name(
    df: pd.DataFrame, names: tuple[str, ...], exclude: tuple[str, ...], text_only: bool
) -> tuple[str, str] | None:
    """Exact name (case-insensitive, in priority order), else the single column whose name contains one."""
    columns = [c for c in df.columns if c not in exclude and not _INDEX_COLUMN.match(c)]
    for name in names:
        hits = [c for c in columns if c.strip().lower() == name]
        if len(hits) > 1:
            hits = [c for c in hits if c == name] or hits
        if hits:
            return hits[0], f"column name '{hits[0]}'"
    words = set(names)
    partial = [
        c for c in columns if words & set(re.split(r"[^a-z]+", c.lower())) and (not text_only or _holds_text(df[c]))
    ]
    if len(partial) == 1:
        return partial[0], f"column name '{partial[0]}' contains a known word"
    return None


def _check_exists(df: pd.DataFrame, column: str, role: str) -> None:
    if column not in df.columns:
        raise RatchetError(
            f"column '{column}' not found; available: {_available(df)}: pass {_FLAGS[role]} with one of them"
        )


def _available(df: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in df.columns)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)
