"""Tables for the dicts of ``data_report.json``: readable names, formatted numbers, no raw key dumps.

The data report is written for machines (``unk_share_words: 0.0123``); the page is read by
people ("words mapped to the unknown token: 1.2%"). Known keys get a name here, shares are
shown as percentages, counts get thousands separators, and any key this module does not know
yet still renders as a table (its name with spaces), so a new analysis never breaks the page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ratchet.reporting.html import Safe, join, note, plain, shortened, table, tag

TEXT_CHARS = 280
"""Snippet length for texts in tables: enough to judge a mistake, short enough to scan."""
LIST_ITEMS = 50
"""Rows of a list shown in a table; the rest is counted, not shown (data_report.json has them all)."""
MAX_DEPTH = 4
"""Nesting shown as nested tables; deeper data is pointed to, never dumped as JSON."""

NAMES = {
    "in": "rows read",
    "out": "rows kept",
    "rows_in": "rows read",
    "rows_out": "rows kept",
    "missing_label_dropped": "dropped: no label",
    "empty_dropped": "dropped: empty text",
    "quotes_stripped": "surrounding quotes stripped",
    "html_unescaped": "HTML entities unescaped",
    "repaired_unicode": "broken Unicode repaired",
    "whitespace_collapsed": "whitespace collapsed",
    "merged": "merged into one",
    "resolved": "resolved by majority label",
    "rows_removed": "rows removed",
    "valid": "validation",
    "valid_size": "validation share",
    "test_size": "test share",
    "test_source": "test set from",
    "threshold": "similarity threshold (Jaccard)",
    "pairs": "near-duplicate pairs",
    "redundant_rows": "redundant rows (beyond one per group)",
    "largest_group": "largest group (rows)",
    "conflicting_groups": "groups with conflicting labels",
    "test_copies": "rows nearly copying a test text",
    "removed_as_test_copies": "removed as near-copies of test texts",
    "groups_kept_in_one_split": "groups kept within one split",
    "model": "model (tokenizer)",
    "rows_sampled": "rows measured",
    "unk_share_words": "words mapped to the unknown token",
    "unk_share_chars": "characters mapped to the unknown token",
    "pieces_per_word": "tokens per word",
    "words": "words counted",
    "unknown_examples": "examples of unknown words",
    "poor": "coverage too poor",
    "mixed_script_rows": "rows mixing scripts",
    "max_length": "max_length (tokens)",
    "truncated_rows": "rows longer than max_length",
    "truncated_share": "share of rows longer than max_length",
    "not_in_train": "not in the training split",
    "stale": "stale (the row changed)",
}
SHARE_WORDS = ("share", "fraction")
SHARE_KEYS = {"valid_size", "test_size"}
"""Keys whose float value is a share of rows (shown as a percentage); their ints are counts."""


def name(key: Any) -> str:
    """A readable name for a data report key."""
    return NAMES.get(str(key), str(key).replace("_", " "))


def is_share(key: Any, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, float) or not 0.0 <= value <= 1.0:
        return False
    key = str(key)
    return key in SHARE_KEYS or any(word in key for word in SHARE_WORDS)


def percent(share: float) -> str:
    """0.123 -> '12.3%'; tiny non-zero shares keep two significant digits instead of reading '0.0%'."""
    value = share * 100
    if value and abs(value) < 0.1:
        return f"{value:.2g}%"
    return f"{value:.1f}%"


def number(value: float) -> str:
    """A float without noise: 380.0 -> '380', 12345.6 -> '12,346', 0.93 -> '0.93'."""
    if not math.isfinite(value):
        return ""
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def value_text(key: Any, value: Any) -> Any:
    """A scalar formatted for its key (shares as percentages); lists of scalars as a shortened list."""
    if is_share(key, value):
        return percent(value)
    if isinstance(value, float):
        return number(value)
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return shortened(", ".join(str(value_text(key, v)) for v in value), TEXT_CHARS)
    return plain(value)


def share_of(count: Any, total: Any) -> str:
    if not isinstance(count, (int, float)) or not isinstance(total, (int, float)) or not total:
        return ""
    return percent(count / total)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def facts(
    pairs: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    headers: tuple[str, str] = ("", "value"),
    id: str | None = None,
    caption: Any = None,
) -> Safe:
    """A two-column table of named values; nested values become nested tables, never dumps."""
    items = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
    rows = [[name(k), value_text(k, v) if _is_scalar(v) else generic(v, 1)] for k, v in items]
    numeric = [1] if all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in items) else []
    return table(list(headers), rows, numeric=numeric, id=id, class_="facts", caption=caption)


def counts_table(
    counts: Mapping[str, Any], *, first: str, id: str | None = None, names: Mapping[str, str] | None = None
) -> Safe:
    """Rows per name with each one's share of the total (classes, splits, scripts, languages)."""
    total = sum(v for v in counts.values() if isinstance(v, (int, float)) and not isinstance(v, bool))
    rows = [[(names or {}).get(str(k), str(k)), plain(v), share_of(v, total)] for k, v in counts.items()]
    return table([first, "rows", "share"], rows, numeric=[1, 2], id=id)


def generic(value: Any, depth: int = 0) -> Safe:
    """Any JSON value as tables: dicts as named rows, lists of dicts as columns (depth-limited)."""
    if _is_scalar(value):
        return tag("span", value_text("", value))
    if depth >= MAX_DEPTH:
        return note("(more nested data: see data/data_report.json)")
    if isinstance(value, dict):
        if not value:
            return tag("span", "none")
        return facts(value.items()) if depth == 0 else _nested(value, depth)
    if isinstance(value, list):
        if not value:
            return tag("span", "none")
        if all(isinstance(v, dict) for v in value):
            return _records(value, depth)
        if all(_is_scalar(v) for v in value):
            return tag("span", value_text("", value))
        return tag("ul", *(tag("li", generic(v, depth + 1)) for v in value[:LIST_ITEMS]))
    return shortened(value, TEXT_CHARS)


def _nested(value: dict[str, Any], depth: int) -> Safe:
    rows = [[name(k), value_text(k, v) if _is_scalar(v) else generic(v, depth + 1)] for k, v in value.items()]
    return table(["", ""], rows, class_="kv")


def _records(rows: list[dict[str, Any]], depth: int) -> Safe:
    """A list of dicts as one table: a column per key, long texts shortened, nested values as tables."""
    keys = list(dict.fromkeys(k for row in rows[:LIST_ITEMS] for k in row))
    body = [
        [
            shortened(row.get(k), TEXT_CHARS, class_="text")
            if isinstance(row.get(k), str)
            else (value_text(k, row.get(k)) if _is_scalar(row.get(k)) else generic(row.get(k), depth + 1))
            for k in keys
        ]
        for row in rows[:LIST_ITEMS]
    ]
    more = f"{len(rows) - LIST_ITEMS:,} more rows in data/data_report.json" if len(rows) > LIST_ITEMS else None
    return join([table([name(k) for k in keys], body, class_="texts"), note(more) if more else None])
