"""What the chosen model will see of the data: token lengths, truncation, unknown tokens, scripts.

Three cheap checks that explain a disappointing model before any training:
- length in tokens of the model's own tokenizer, and the share of rows cut at
  ``train.max_length`` (the end of a truncated review is invisible to the model);
- tokenizer coverage: the share of words (for CJK text: characters, which is what
  those scripts write words with) and of characters that reach the model as the
  unknown token. Chinese text with an English vocabulary loses most characters to
  ``[UNK]``: the report says so loudly, with the figure;
- the script mix (Latin, Cyrillic, Han, ...) per row by a character-class count,
  plus a stop-word guess at the language of Latin-script rows.
Large inputs are measured on a seeded sample of ``SAMPLE_ROWS`` rows.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

SAMPLE_ROWS = 20_000
POOR_UNK_SHARE = 0.02
"""More than 2% of words (or characters) mapped to the unknown token: flag it."""
TRUNCATION_WARN = 0.1
"""Warn when more than 10% of rows are longer than max_length tokens."""
_CHUNK = 1000

_SCRIPTS = {
    "Latin": [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF)],
    "Greek": [(0x370, 0x3FF)],
    "Cyrillic": [(0x400, 0x4FF)],
    "Armenian": [(0x530, 0x58F)],
    "Hebrew": [(0x590, 0x5FF)],
    "Arabic": [(0x600, 0x6FF), (0x750, 0x77F)],
    "Devanagari": [(0x900, 0x97F)],
    "Bengali": [(0x980, 0x9FF)],
    "Thai": [(0xE00, 0xE7F)],
    "Georgian": [(0x10A0, 0x10FF)],
    "Hangul": [(0x1100, 0x11FF), (0xAC00, 0xD7AF)],
    "Kana": [(0x3040, 0x30FF)],
    "Han": [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)],
}
_CODES = {name: chr(0xE000 + i) for i, name in enumerate(_SCRIPTS)}
_NAMES = {code: name for name, code in _CODES.items()}
# str.translate maps every letter to its script's code and deletes everything else, in C.
_TABLE: dict[int, Any] = {cp: None for cp in range(0x80)}
for _name, _ranges in _SCRIPTS.items():
    for _lo, _hi in _ranges:
        _TABLE.update(dict.fromkeys(range(_lo, _hi + 1), _CODES[_name]))

_STOPWORD_TEXT = {
    "en": "the and is it was to of this that with for not have my but",
    "es": "el la los las que de y en es no por con para una muy",
    "fr": "le la les et est une des que pas pour dans avec sur très je",
    "de": "der die das und ist nicht ich mit sie es ein eine auch zu",
    "pt": "o os as que de e não é um uma com para muito em do",
    "it": "il lo gli che di e non è un una con per molto sono della",
    "nl": "de het een en is niet ik met van dat op zijn voor maar",
}
_STOPWORDS = {lang: words.split() for lang, words in _STOPWORD_TEXT.items()}
_WORD = re.compile(r"[^\W\d_]+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK}]|[^\W\d_{_CJK}]+")
"""A unit is a CJK character or a run of letters in any other script (digits and punctuation are not words)."""


def sample_rows(n: int, limit: int = SAMPLE_ROWS, seed: int = 0) -> np.ndarray:
    """All row indices when ``n <= limit``, else a sorted seeded sample of ``limit`` of them."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _describe(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0}
    return {
        "min": int(values.min()),
        "mean": round(float(values.mean()), 1),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": int(values.max()),
    }


def token_lengths(tokenizer: Any, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
    """Untruncated token count per row, special tokens included (what max_length is compared with)."""
    from ratchet.models.load import _quiet_transformers

    out: list[int] = []
    with _quiet_transformers():  # "sequence longer than the model maximum" is the point here, not a problem
        for start in range(0, len(texts), _CHUNK):
            chunk_pairs = None if pairs is None else pairs[start : start + _CHUNK]
            ids = tokenizer(texts[start : start + _CHUNK], chunk_pairs, truncation=False)["input_ids"]
            out.extend(len(row) for row in ids)
    return np.asarray(out, dtype=np.int64)


def length_section(lengths: np.ndarray, max_length: int, model: str) -> dict[str, Any]:
    """Token length statistics plus how many rows ``max_length`` cuts, and a histogram."""
    truncated = int((lengths > max_length).sum())
    stats: dict[str, Any] = _describe(lengths)
    top = max(int(lengths.max()) if len(lengths) else 1, max_length)
    edges = [0, *(2**k for k in range(4, 30) if 2 ** (k - 1) < top)]
    counts, _ = np.histogram(lengths, bins=edges)
    stats.update(
        model=model,
        max_length=max_length,
        truncated_rows=truncated,
        truncated_share=round(truncated / len(lengths), 4) if len(lengths) else 0.0,
        histogram={"edges": edges, "counts": [int(c) for c in counts]},
    )
    return stats


def tokenizer_coverage(tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    """Share of word units, of characters and of tokens that map to the unknown token."""
    units: Counter = Counter()
    for text in texts:
        units.update(_UNIT.findall(text))
    total_units = sum(units.values())
    total_chars = sum(len(u) * n for u, n in units.items())
    unk_id = getattr(tokenizer, "unk_token_id", None)
    unknown: Counter = Counter()
    n_pieces = 0
    if units:
        distinct = list(units)
        for start in range(0, len(distinct), _CHUNK * 10):
            chunk = distinct[start : start + _CHUNK * 10]
            for unit, ids in zip(chunk, tokenizer(chunk, add_special_tokens=False)["input_ids"], strict=True):
                n_pieces += len(ids) * units[unit]
                if unk_id is not None and unk_id in ids:
                    unknown[unit] = units[unit]
    unk_units = sum(unknown.values())
    unk_chars = sum(len(u) * n for u, n in unknown.items())
    word_share = unk_units / total_units if total_units else 0.0
    char_share = unk_chars / total_chars if total_chars else 0.0
    return {
        "unk_share_words": round(word_share, 4),
        "unk_share_chars": round(char_share, 4),
        "pieces_per_word": round(n_pieces / total_units, 3) if total_units else 0.0,
        "words": total_units,
        "unknown_examples": [u for u, _ in unknown.most_common(10)],
        "poor": bool(max(word_share, char_share) > POOR_UNK_SHARE),
    }


def script_of(text: str) -> tuple[str, float]:
    """(dominant script, its share of the letters); ("none", 0.0) for a text without letters."""
    codes = Counter(text.translate(_TABLE))
    # Characters outside the table pass through translate unchanged: letters among them are "other".
    letters = {_NAMES[code]: n for code, n in codes.items() if code in _NAMES}
    other = sum(n for code, n in codes.items() if code not in _NAMES and code.isalpha())
    if other:
        letters["other"] = other
    if not letters:
        return "none", 0.0
    name, n = max(letters.items(), key=lambda item: item[1])
    return name, n / sum(letters.values())


def guess_latin_language(text: str) -> str | None:
    """The language whose stop words are most frequent in a Latin-script text (None: too few hits)."""
    words = Counter(_WORD.findall(text.casefold()))
    scores = {lang: sum(words[w] for w in stops) for lang, stops in _STOPWORDS.items()}
    lang, best = max(scores.items(), key=lambda item: item[1])
    return lang if best >= 2 else None


def script_section(texts: list[str]) -> dict[str, Any]:
    """Rows per dominant script, rows mixing scripts, and a stop-word guess at Latin-script languages."""
    scripts: Counter = Counter()
    languages: Counter = Counter()
    mixed = 0
    for text in texts:
        script, share = script_of(text)
        scripts[script] += 1
        mixed += share < 0.8 and script != "none"
        if script == "Latin":
            languages[guess_latin_language(text) or "unknown"] += 1
    return {
        "rows_sampled": len(texts),
        "scripts": dict(scripts.most_common()),
        "mixed_script_rows": int(mixed),
        "latin_languages": dict(languages.most_common()),
    }


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    from ratchet.models.load import _quiet_transformers
    from ratchet.models.source import resolve_model_path

    with _quiet_transformers():
        return AutoTokenizer.from_pretrained(resolve_model_path(model))


def model_view(
    texts: list[str],
    pairs: list[str] | None,
    *,
    model: str,
    max_length: int,
    tokenizer: Any | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    """(token lengths, coverage, scripts, warnings) for ``texts`` as ``model`` would read them."""
    rows = sample_rows(len(texts))
    sample = [texts[i] for i in rows]
    sample_pairs = None if pairs is None else [pairs[i] for i in rows]
    scripts = script_section(sample)
    warnings: list[str] = []
    if model == "linear":
        skipped = {"model": model, "skipped": "the linear model has no tokenizer"}
        return dict(skipped), dict(skipped), scripts, warnings
    tokenizer = load_tokenizer(model) if tokenizer is None else tokenizer
    lengths = length_section(token_lengths(tokenizer, sample, sample_pairs), max_length, model)
    lengths["rows_sampled"] = len(rows)
    coverage = {"model": model, "rows_sampled": len(rows)}
    coverage.update(tokenizer_coverage(tokenizer, sample + (sample_pairs or [])))
    if coverage["poor"]:
        unit = "characters" if coverage["unk_share_chars"] >= coverage["unk_share_words"] else "words"
        share = max(coverage["unk_share_chars"], coverage["unk_share_words"])
        main = next(iter(scripts["scripts"]), "unknown")
        warnings.append(
            f"POOR TOKENIZER COVERAGE: {share:.1%} of {unit} map to the unknown token of model {model!r} "
            f"(main script: {main}): pick a model whose vocabulary covers this script (--model), "
            "or run the best preset so adapt can extend the vocabulary"
        )
    if lengths["truncated_share"] > TRUNCATION_WARN:
        warnings.append(
            f"{lengths['truncated_share']:.1%} of rows are longer than max_length={max_length} tokens and get cut: "
            f"raise train.max_length (p95 is {lengths['p95']:.0f} tokens) if their ends matter; above chunk.threshold "
            "the chunk step reads them in overlapping windows (chunk.cut=head_tail: their first and last tokens)"
        )
    return lengths, coverage, scripts, warnings
