"""Highlighted text: each word's background shows its score (green for the target, red against), escaped.

Shared by ``ratchet explain --out FILE.html`` and the report's "Why the model decides" section.
Texts and labels come from the user's data, so everything passes through reporting.html's escaping
builder; the page loads nothing and runs no script (its Content-Security-Policy says so).
"""

from __future__ import annotations

from collections.abc import Sequence

from ratchet.explain.result import Explanation
from ratchet.reporting.html import Safe, join, tag

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.row{border-bottom:1px solid #ddd;padding:.6rem 0}.meta{color:#555;font-size:13px}
.hl span{border-radius:3px;padding:0 1px}.key{font-size:13px;color:#555}
"""


def highlighted(explanation: Explanation) -> Safe:
    """The text with each word wrapped in a span whose colour strength is its score relative to the row's largest."""
    text = explanation.text
    largest = max((abs(s) for s in explanation.scores), default=0.0) or 1.0
    parts: list[Safe | str] = []
    cursor = 0
    for (start, end), score in zip(explanation.spans, explanation.scores, strict=True):
        parts.append(text[cursor:start])
        alpha = min(1.0, abs(score) / largest) * 0.6
        colour = f"rgba(22,150,60,{alpha:.2f})" if score >= 0 else f"rgba(210,40,40,{alpha:.2f})"
        parts.append(tag("span", text[start:end], style=f"background:{colour}", title=f"{score:+.4f}"))
        cursor = end
    parts.append(text[cursor:])
    return tag("span", join(parts), class_="hl")


def explanation_block(explanation: Explanation, extra: str = "") -> Safe:
    if explanation.predicted_labels is not None:  # multi-label: the set, then the label these scores explain
        chosen = ", ".join(map(str, explanation.predicted_labels)) or "no label"
        meta = (
            f"row {explanation.row} · predicted {{{chosen}}} · scores toward {explanation.target} "
            f"(probability {explanation.target_probability:.3f}; {explanation.method}, {explanation.space})"
        )
    else:
        meta = (
            f"predicted {explanation.label} ({explanation.probability:.3f}) · scores toward {explanation.target} "
            f"({explanation.method}, {explanation.space})"
        )
    meta += f" · {extra}" if extra else ""
    notes = [tag("div", f"note: {line}", class_="meta") for line in explanation.notes]
    return tag("div", tag("div", meta, class_="meta"), highlighted(explanation), *notes, class_="row")


def render_page(explanations: Sequence[Explanation], title: str) -> str:
    """A self-contained HTML page (no script, no external resource) with one highlighted block per text."""
    policy = "default-src 'none'; style-src 'unsafe-inline'"
    head = join([
        Safe('<meta charset="utf-8">'),
        tag("meta", http_equiv="Content-Security-Policy", content=policy),
        tag("title", title),
        Safe(f"<style>{STYLE}</style>"),
    ])  # fmt: skip
    key = "Green: the word raises the target's score; red: it lowers it; hover a word for its score."
    body = join([tag("h1", title), tag("p", key, class_="key"), *(explanation_block(e) for e in explanations)])
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>{body}</body>\n</html>\n'
