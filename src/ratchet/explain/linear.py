"""Exact word contributions of the TF-IDF + logistic regression model.

The model's score for class c is ``z_c = intercept_c + sum_j coef_cj * x_j`` over its TF-IDF
features x (word 1-2-grams and char_wb n-grams; each block L2-normalized), so
``coef_cj * x_j`` is feature j's exact contribution. Each feature goes to words like this:

- its value x_j counts every occurrence of the n-gram in the text, so the contribution is split
  equally among the occurrences (the tf is shared by them; sublinear_tf makes no occurrence
  weigh more than another);
- a word n-gram occurrence is split equally among its tokens, each token going to its word;
- a char_wb n-gram occurrence lies within one whitespace-separated token (the analyzer pads each
  token with a space on both sides; the padding is not text) and is split among the words it
  overlaps in proportion to the characters it has in each: "l-be" of "well-being" goes 1/4 to
  "well", 1/4 to "-" and 2/4 to "being"; " ok" goes wholly to "ok".

So the word contributions plus the intercept add up to z_c exactly (for two classes, scikit-learn
keeps one score z for the second class; the first class's score is -z, the log-odds in its
favour). A feature found in x but not by this module's own enumeration of the analyzer (lowercasing
that changes a text's length, a custom token pattern) goes to ``unassigned`` and is reported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratchet.explain.words import Span, overlap_weights, word_spans


@dataclass
class LinearContributions:
    scores: np.ndarray
    """One contribution per word of the text, toward the class."""
    intercept: float
    score: float
    """The model's score for the class: intercept + scores.sum() + unassigned."""
    unassigned: float


def class_rows(model: Any, target: int) -> tuple[np.ndarray, float] | None:
    """(coef row, intercept) whose score is the log-odds/score of label id ``target``, None if never trained on it."""
    classifier = model.classifier_
    classes = list(int(c) for c in classifier.classes_)
    if target not in classes:
        return None
    if classifier.coef_.shape[0] == 1:  # binary: one row for classes[1]; classes[0]'s log-odds is its negative
        sign = 1.0 if classes.index(target) == 1 else -1.0
        return sign * np.asarray(classifier.coef_[0], dtype=np.float64), sign * float(classifier.intercept_[0])
    row = classes.index(target)
    return np.asarray(classifier.coef_[row], dtype=np.float64), float(classifier.intercept_[row])


def linear_contributions(model: Any, text: str, target: int) -> LinearContributions:
    """Exact per-word contributions of ``text`` to label id ``target``'s score (see the module docstring)."""
    spans = word_spans(text)
    rows = class_rows(model, target)
    if rows is None:
        return LinearContributions(np.zeros(len(spans)), 0.0, 0.0, 0.0)
    coef, intercept = rows
    x = model.features([text]).tocsr()
    scores = np.zeros(len(spans))
    unassigned = 0.0
    offset = 0
    for vec in model.vectorizers_[0]:  # the text column; a pair's second column is not explained
        width = len(vec.vocabulary_)
        occurrences = _occurrences(vec, text)
        block = x[:, offset : offset + width]
        for j, value in zip(block.indices, block.data, strict=True):
            contribution = float(coef[offset + j] * value)
            found = occurrences.get(int(j))
            if not found or not spans:
                unassigned += contribution
                continue
            for pieces in found:
                weights = overlap_weights(pieces, spans).sum(axis=0)
                scores += contribution / len(found) * weights / max(weights.sum(), 1e-12)
        offset += width
    score = intercept + float(scores.sum()) + unassigned
    return LinearContributions(scores, intercept, score, unassigned)


def _occurrences(vec: Any, text: str) -> dict[int, list[list[Span]]]:
    """Feature index -> one list of character spans per occurrence, following scikit-learn's analyzers."""
    found: dict[int, list[list[Span]]] = defaultdict(list)
    vocabulary = vec.vocabulary_
    low, high = vec.ngram_range
    lowered = text.lower() if vec.lowercase else text
    if len(lowered) != len(text):
        return found  # offsets would not line up: everything goes to unassigned
    if vec.analyzer == "word":
        pattern = re.compile(vec.token_pattern)
        tokens = [(m.group(1) if pattern.groups else m.group(), m.span()) for m in pattern.finditer(lowered)]
        for n in range(low, high + 1):
            for i in range(len(tokens) - n + 1):
                gram = " ".join(token for token, _ in tokens[i : i + n])
                if gram in vocabulary:
                    found[vocabulary[gram]].append([span for _, span in tokens[i : i + n]])
        return found
    for match in re.finditer(r"\S+", lowered):  # char_wb: n-grams of " " + token + " " per whitespace token
        padded, start = f" {match.group()} ", match.start() - 1
        for n in range(low, high + 1):
            last = max(len(padded) - n, 0)
            for i in range(last + 1):
                gram = padded[i : i + n]
                if gram in vocabulary:
                    # characters of the text only: the padding spaces (positions 0 and len - 1) excluded
                    first, stop = max(i, 1), min(i + n, len(padded) - 1)
                    found[vocabulary[gram]].append([(start + first, start + stop)])
            if last == 0:  # scikit-learn counts a token no longer than n once, for the smallest such n only
                break
    return found
