"""A tiny HTML builder that escapes by default.

Everything in a run folder that came from the user (texts, label names, column
names, file paths) is untrusted: it may hold ``<script>``. Every string passed to
:func:`tag` is escaped unless it is already :class:`Safe` (built by this module),
so forgetting to escape is impossible rather than merely unlikely.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from typing import Any


class Safe(str):
    """A string of HTML that is already escaped (produced by this module only)."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """Escape anything that is not already Safe (quotes too: it may end up in an attribute)."""
    return value if isinstance(value, Safe) else Safe(escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(esc(part) for part in parts if part is not None))


VOID = frozenset({"br", "hr", "meta", "img", "input", "col"})


def tag(name: str, /, *children: Any, **attrs: Any) -> Safe:
    """``tag("td", "x", class_="num", data_value=3)`` -> ``<td class="num" data-value="3">x</td>``.

    A trailing underscore is dropped (``class_``), other underscores become hyphens
    (``data_value``, ``stroke_width``) except in ``viewBox``-style names given as-is.
    None and False attributes are left out; True gives a bare attribute.
    """
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    opening = "<" + " ".join(parts) + ">"
    if name in VOID:
        return Safe(opening)
    return Safe(opening + join(children) + f"</{name}>")


def num(value: Any, digits: int = 4, signed: bool = False) -> str:
    """A number for a table cell; '' for missing or non-finite values."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return f"{value:+d}" if signed else f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return ""
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def plain(value: Any) -> Any:
    """A scalar for display: yes/no, thousands separators, 4 significant digits; Safe passes through."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else ""
    return "" if value is None else value


ELLIPSIS = "\u2026"
TITLE_CHARS = 20_000
"""Longest text kept in a ``title`` tooltip: any real review whole, but one huge row cannot bloat the page."""


def clip(text: Any, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters; a cut text always ends with an ellipsis.

    The one place the report shortens text, so every shortened text says so the same way.
    """
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    # Trailing spaces before the ellipsis would read as a finished word: drop them.
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def shortened(text: Any, limit: int, *, class_: str | None = None) -> Safe:
    """A ``<span>`` of ``text`` cut to ``limit`` characters; when cut, the full text is its hover ``title``."""
    full = "" if text is None else str(text)
    shown = clip(full, limit)
    return tag("span", shown, class_=class_, title=clip(full, TITLE_CHARS) if shown != full else None)


def interval(ci: Any, digits: int = 4, signed: bool = False) -> str:
    """'[lo, hi]' for a two-number interval, '' otherwise."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or any(v is None for v in ci):
        return ""
    return f"[{num(ci[0], digits, signed)}, {num(ci[1], digits, signed)}]"


def table(
    headers: list[Any],
    rows: Iterable[list[Any]],
    *,
    numeric: Iterable[int] = (),
    id: str | None = None,
    class_: str | None = None,
    caption: Any = None,
    sortable: bool = False,
) -> Safe:
    """A plain table: readable without scripts; ``sortable`` lets report.js sort it on header click.

    Cells are escaped unless Safe; columns listed in ``numeric`` are right-aligned.
    """
    right = set(numeric)
    head = tag("tr", *(tag("th", h, class_="num" if i in right else None) for i, h in enumerate(headers)))
    body = join(
        tag("tr", *(tag("td", cell, class_="num" if i in right else None) for i, cell in enumerate(row)))
        for row in rows
    )
    classes = " ".join(c for c in (class_, "sortable" if sortable else None) if c) or None
    return tag(
        "table",
        tag("caption", caption) if caption is not None else None,
        tag("thead", head),
        tag("tbody", body),
        id=id,
        class_=classes,
    )


def key_values(pairs: Iterable[tuple[Any, Any]], *, id: str | None = None, caption: Any = None) -> Safe:
    """A two-column table of names and values."""
    rows = ([k, plain(v)] for k, v in pairs)
    return table(["", ""], rows, numeric=[1], id=id, class_="kv", caption=caption)


def section(anchor: str, title: str, *content: Any, intro: Any = None) -> Safe:
    return tag(
        "section",
        tag("h2", title),
        tag("p", intro, class_="intro") if intro else None,
        *content,
        id=anchor,
    )


def note(text: Any) -> Safe:
    return tag("p", text, class_="note")
