"""What a model relies on across many texts: per-class words by mean attribution, and words that look like leakage.

Leakage here is a word the model leans on that should not decide a label: a label's own name,
an identifier, a piece of a URL or e-mail address, or a number, that recurs with one label in
the labeled rows. Such a word is flagged when all of these hold:

- it looks like one of those (``leak_kind``);
- it is in at least MIN_ROWS labeled rows (train + validation) and at least PURITY of them carry one label
  (label sets: at least PURITY of them have that label in their set);
- its mean score where it occurs (toward the predicted label) is in the top LARGE_SHARE of the
  explained words' scores and at least MIN_SCORE_SHARE of the row's largest score on average.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ratchet.explain.result import Explanation
from ratchet.explain.words import WORD_RE

MIN_ROWS = 5
PURITY = 0.95
LARGE_SHARE = 0.05
MIN_SCORE_SHARE = 0.3
URL_PIECES = frozenset({"http", "https", "www", "com", "org", "net", "html", "php", "mailto"})


@dataclass
class ClassWords:
    label: str
    rows: int
    words: list[tuple[str, float, int]]
    """(word, mean score, rows it occurs in), largest mean first."""


@dataclass
class LeakWarning:
    word: str
    kind: str
    label: str
    purity: float
    rows: int
    mean_score: float


def word_key(word: str) -> str:
    return word.lower()


def _row_scores(explanation: Explanation) -> dict[str, float]:
    """A word's score in one row (occurrences summed)."""
    out: dict[str, float] = defaultdict(float)
    for word, score in zip(explanation.words, explanation.scores, strict=True):
        out[word_key(word)] += score
    return out


def class_words(
    explained: Sequence[Explanation], labels: Sequence[str], k: int = 8, min_rows: int = 2
) -> list[ClassWords]:
    """For each predicted label: the words with the largest mean score toward it, over rows predicting it."""
    out = []
    for label in labels:
        rows = [e for e in explained if str(e.target) == str(label)]
        sums: dict[str, list[float]] = defaultdict(list)
        for e in rows:
            for word, score in _row_scores(e).items():
                if any(ch.isalnum() for ch in word):  # punctuation is rarely what a reader wants listed
                    sums[word].append(score)
        ranked = sorted(
            ((w, float(np.mean(s)), len(s)) for w, s in sums.items() if len(s) >= min_rows), key=lambda t: -t[1]
        )
        out.append(ClassWords(str(label), len(rows), ranked[:k]))
    return out


def leak_kind(word: str, labels: Sequence[str]) -> str | None:
    """Why a word looks like leakage ("label name", "number", "identifier", "URL"), or None."""
    key = word_key(word)
    label_words = {w.lower() for label in labels for w in WORD_RE.findall(str(label)) if any(c.isalnum() for c in w)}
    if key in label_words:
        return "label name"
    if key.isdigit():
        return "number"
    if key in URL_PIECES:
        return "URL"
    if re.fullmatch(r"(?=\w*[a-z_])(?=\w*\d)\w{3,}", key) or re.fullmatch(r"[0-9a-f]{8,}", key):
        return "identifier"
    return None


def leakage(
    explained: Sequence[Explanation],
    labeled_texts: Sequence[str],
    labeled: Sequence[str | Sequence[str]],
    labels: Sequence[str],
) -> list[LeakWarning]:
    """Words that look like leakage, recur with one label in the labeled rows and carry large scores.

    ``labeled``: each labeled row's label, or (multi-label) its list of labels."""
    scores = [s for e in explained for s in e.scores if s > 0]
    if not scores:
        return []
    large = float(np.quantile(scores, 1 - LARGE_SHARE))
    per_word: dict[str, list[float]] = defaultdict(list)
    shares: dict[str, list[float]] = defaultdict(list)
    for e in explained:
        top = max((abs(s) for s in e.scores), default=0.0) or 1.0
        for word, score in _row_scores(e).items():
            if leak_kind(word, labels) is not None:
                per_word[word].append(score)
                shares[word].append(score / top)
    found = []
    for word, values in per_word.items():
        mean = float(np.mean(values))
        if mean < large or float(np.mean(shares[word])) < MIN_SCORE_SHARE:
            continue
        with_word: Counter[str] = Counter()
        rows = 0
        for text, label in zip(labeled_texts, labeled, strict=True):
            if word in {word_key(w) for w in WORD_RE.findall(text)}:
                rows += 1
                with_word.update({str(one) for one in ([label] if isinstance(label, str) else label)})
        if rows < MIN_ROWS:
            continue
        label, count = with_word.most_common(1)[0]
        if count / rows >= PURITY:
            found.append(LeakWarning(word, str(leak_kind(word, labels)), label, count / rows, rows, mean))
    return sorted(found, key=lambda w: -w.mean_score)
