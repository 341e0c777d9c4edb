"""The "Why the model decides" examples of a multi-label model: one highlighted text per label explained.

A multi-label text has a set of labels, each with its own sigmoid probability, so each row of the
table is one (text, label) pair: the true set, the predicted set, the label the words are scored
toward and its probability. Mistakes are texts whose predicted set is not exactly the true one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ratchet.reporting.html import Safe, num, table, tag


def _set(labels: list[str], row: np.ndarray) -> str:
    return ", ".join(labels[j] for j in np.flatnonzero(row)) or "(none)"


def multilabel_examples(explained: list, truths: list[np.ndarray], labels: list[str], shown: int) -> list[Any]:
    """Tables of the most confident mistakes and of correct predictions, ``shown`` texts each."""
    from ratchet.explain.html_page import highlighted

    def rows_of(pairs: list) -> Safe:
        body = [[_set(labels, t), ", ".join(map(str, e.predicted_labels)) or "(none)", str(e.target),
                 num(e.target_probability, 3), highlighted(e)] for e, t in pairs]  # fmt: skip
        headers = ["true labels", "predicted labels", "words toward", "its probability", "text"]
        return table(headers, body, numeric=[3], class_="texts")

    def exact(e: Any, t: np.ndarray) -> bool:
        return {labels[j] for j in np.flatnonzero(t)} == {str(label) for label in e.predicted_labels}

    pairs = list(zip(explained, truths, strict=True))
    out: list[Any] = []
    for title, keep in (("Most confident mistakes", False), ("A sample of correct predictions", True)):
        chosen = _first_texts([(e, t) for e, t in pairs if exact(e, t) == keep], shown)
        if chosen:
            out += [tag("h3", title), rows_of(chosen)]
    return out


def _first_texts(pairs: list, shown: int) -> list:
    """Every explanation of the first ``shown`` texts (a text explained for two labels keeps both rows)."""
    texts: list[str] = []
    out = []
    for e, t in pairs:
        if e.text not in texts:
            if len(texts) == shown:
                break
            texts.append(e.text)
        out.append((e, t))
    return out
