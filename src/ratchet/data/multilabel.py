"""Multi-label input: a label *set* per row, read from one of three forms, kept as one canonical string.

The forms: a JSON list per row (``["sports", "politics"]``, auto-detected when every label
value is one), a delimited string (``sports|politics`` with ``--label-sep "|"``), or several
0/1 columns (``--label-cols sports,politics``). Whatever the form, the standard frame's
``label`` column holds the set as a canonical JSON list (sorted, no repeats), so that
cleaning's duplicate merge and conflict vote compare sets as plain strings, and the split
files stay readable. ``label_matrix`` turns those strings into the (rows, labels) 0/1
matrix that training, metrics and the gate read; a 2-D label array is what marks a
multi-label task everywhere downstream.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ratchet.errors import RatchetError

TASK_KEY = "task"
"""Key of labels.json and the data report that says a run is multi-label (absent for single-label runs)."""
MULTILABEL = "multilabel"
_SAMPLE = 2000


def canonical(labels: Iterable[str]) -> str:
    """A label set as the one string every form maps to: a sorted JSON list without repeats."""
    return json.dumps(sorted(set(labels)), ensure_ascii=False)


def parse_canonical(value: str) -> list[str]:
    return list(json.loads(value))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _as_list(value: Any) -> list[Any] | None:
    """The value as a list when it is one (a JSON list string, or a list read from JSON/Parquet), else None."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, list) else None
    return None


def holds_label_lists(series: pd.Series) -> bool:
    """True when the column's label values are lists (auto-detection); a column that mixes forms is an error."""
    values = [v for v in series.iloc[:_SAMPLE] if not _missing(v)]
    lists = sum(_as_list(v) is not None for v in values)
    if lists == 0:
        return False
    if lists < len(values):
        plain = next(v for v in values if _as_list(v) is None)
        raise RatchetError(
            f"label column '{series.name}' mixes JSON lists and plain labels (e.g. {str(plain)[:40]!r}): "
            "write every row's labels as a JSON list, or give plain labels only"
        )
    return True


def _clean_names(items: Sequence[Any], column: str, row: int) -> list[str]:
    names = []
    for item in items:
        if isinstance(item, (list, dict)):
            raise RatchetError(f"label column '{column}' row {row + 1}: a label is itself a list: use flat lists")
        text = str(item).strip()
        if text:
            names.append(text)
    return names


def sets_from_lists(series: pd.Series) -> list[str | None]:
    """Canonical sets from a column of JSON lists (missing values stay None)."""
    out: list[str | None] = []
    for row, value in enumerate(series):
        if _missing(value):
            out.append(None)
            continue
        items = _as_list(value)
        if items is None:
            raise RatchetError(
                f"label column '{series.name}' row {row + 1} is not a JSON list ({str(value)[:40]!r}) while other "
                "rows are: write every row's labels as a JSON list"
            )
        out.append(canonical(_clean_names(items, str(series.name), row)))
    return out


def sets_from_delimited(series: pd.Series, sep: str) -> list[str | None]:
    """Canonical sets from ``a<sep>b`` strings; a JSON list in such a column is a mix of forms, hence an error."""
    if not sep:
        raise RatchetError("--label-sep is empty: give the character that separates labels, e.g. --label-sep '|'")
    out: list[str | None] = []
    for row, value in enumerate(series):
        if _missing(value):
            out.append(None)
            continue
        if _as_list(value) is not None and not isinstance(value, str):
            out.append(canonical(_clean_names(_as_list(value) or [], str(series.name), row)))
            continue
        text = str(value)
        if text.strip().startswith("[") and _as_list(text) is not None:
            raise RatchetError(
                f"label column '{series.name}' row {row + 1} is a JSON list but --label-sep {sep!r} was given: "
                "use one form for every row (leave --label-sep out for JSON lists)"
            )
        out.append(canonical(part.strip() for part in text.split(sep) if part.strip()))
    return out


def sets_from_columns(df: pd.DataFrame, columns: Sequence[str]) -> list[str | None]:
    """Canonical sets from 0/1 indicator columns, one per label (named after the column)."""
    if len(columns) < 2:
        raise RatchetError("--label-cols needs at least 2 columns (one per label), e.g. --label-cols a,b,c")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RatchetError(
            f"--label-cols column '{missing[0]}' not found; available: {', '.join(map(str, df.columns))}"
        )
    flags = np.zeros((len(df), len(columns)), dtype=bool)
    for j, column in enumerate(columns):
        values = df[column]
        for row, value in enumerate(values):
            flag = _indicator(value)
            if flag is None:
                raise RatchetError(
                    f"--label-cols column '{column}' row {row + 1} holds {value!r}, not 0 or 1: "
                    "give 0/1 (or true/false) in every indicator column"
                )
            flags[row, j] = flag
    return [canonical(str(columns[j]) for j in np.flatnonzero(row_flags)) for row_flags in flags]


_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


def _indicator(value: Any) -> bool | None:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and not _missing(value):
        return {0: False, 1: True}.get(float(value))  # type: ignore[call-overload]
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def check_label_sets(labels: pd.Series) -> None:
    """Every labeled row needs at least one label: an empty set teaches the model nothing to predict."""
    empty = [i for i, v in enumerate(labels) if v is not None and v == "[]"]
    if empty:
        raise RatchetError(
            f"{len(empty)} row(s) with an empty label set (first: row {empty[0] + 1}): every row needs at least one "
            "label: add one (e.g. 'none') or drop those rows"
        )


def label_union(values: Iterable[str]) -> list[str]:
    """Every label that occurs in the canonical sets, sorted."""
    seen: set[str] = set()
    for value in values:
        seen.update(parse_canonical(value))
    return sorted(seen)


def label_matrix(values: Iterable[str], labels: Sequence[Any]) -> np.ndarray:
    """(rows, labels) int64 0/1 matrix of canonical sets; a label outside ``labels`` is an error."""
    index = {str(label): j for j, label in enumerate(labels)}
    values = list(values)
    out = np.zeros((len(values), len(index)), dtype=np.int64)
    for i, value in enumerate(values):
        for name in parse_canonical(value):
            if name not in index:
                raise RatchetError(f"label {name!r} is not in the label list: fix the labels")
            out[i, index[name]] = 1
    return out


def label_counts(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        for name in parse_canonical(value):
            counts[name] = counts.get(name, 0) + 1
    return counts


def validate_label_sets(values: pd.Series) -> None:
    """Two labels at least, each on two rows at least (one to learn from, one to check)."""
    if values.empty:
        raise RatchetError("no labeled rows left after cleaning: check --text-col and the label columns")
    counts = label_counts(values)
    if len(counts) < 2:
        raise RatchetError(f"only one label ({', '.join(counts)}) in the label sets: multi-label needs at least 2")
    singles = sorted(name for name, n in counts.items() if n == 1)
    if singles:
        shown = ", ".join(f"'{s}'" for s in singles[:5]) + (f" and {len(singles) - 5} more" if len(singles) > 5 else "")
        raise RatchetError(f"{len(singles)} labels occur on only 1 row ({shown}): add examples or remove those labels")
