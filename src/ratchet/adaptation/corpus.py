"""The adaptation corpus: training texts plus unlabeled text, with every trace of the test set removed.

The test split is sealed, so this module never sees a test text. It gets the
test *fingerprints* (sha1 of the case-folded, whitespace-collapsed text, see
``ratchet.data.split.text_fingerprint``) and removes a corpus text when

- its own fingerprint is a test fingerprint (exact copy up to case and spacing), or
- the fingerprint of one of its lines, sentences or runs of up to ``MAX_WINDOW``
  consecutive sentences is one: a test review quoted inside a longer unlabeled
  document (a forum page, a scraped product page) is caught too, or
- MinHash signatures of the test texts are given and one of them is a near
  duplicate (estimated Jaccard of unit 3-shingles >= ``threshold``).

Why not a Jaccard check against the test texts directly: that needs the test
text, which only ``evaluate`` may read. Hashes let the check happen without
breaking the seal; MinHash signatures would extend it to edited copies, but no
step publishes them yet, so the step runs with fingerprints alone.

Validation texts are kept out the same way: the ratchet rule judges the adapted
model on validation, and a model that pretrained on those very texts would look
better there than it will on the test set.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.config import CleanParams
from ratchet.data.clean import normalize_text
from ratchet.data.split import text_fingerprint

MAX_WINDOW = 16
"""Longest run of consecutive sentences checked against the test fingerprints."""
NUM_PERM = 64
"""MinHash permutations: a 0.9-Jaccard threshold is estimated well with 64."""

_BOUNDARY = re.compile(r"(?<=[.!?;。！？；…])\s*|\n+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


@dataclass
class AdaptCorpus:
    texts: list[str]
    """Texts to pretrain on: normalized, deduplicated, test and validation texts removed."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Rows in, rows removed and why: for the manifest."""


def build_corpus(
    train_texts: Sequence[str],
    unlabeled: Sequence[str] = (),
    *,
    test_fingerprints: Iterable[str] = (),
    exclude_fingerprints: Iterable[str] = (),
    test_signatures: Sequence[Sequence[int]] | None = None,
    near_threshold: float = 0.9,
    clean: CleanParams | None = None,
    max_rows: int | None = None,
    seed: int = 0,
) -> AdaptCorpus:
    """Training texts + unlabeled texts, minus test copies, test near-copies and validation texts.

    Unlabeled texts are normalized like the labeled data (``clean``) first, so a test text that
    reached the user's unlabeled file with other spacing or HTML entities still hashes the same.
    ``max_rows`` samples the unlabeled part down (seeded); training texts always stay.
    """
    sealed = set(test_fingerprints)
    excluded = set(exclude_fingerprints)
    index = _NearIndex(test_signatures, near_threshold) if test_signatures else None
    seen: set[str] = set()
    stats = {"train_texts": 0, "unlabeled_texts": 0, "removed_test": 0, "removed_near_test": 0,
             "removed_valid": 0, "removed_duplicate": 0, "removed_empty": 0}  # fmt: skip
    kept: dict[str, list[str]] = {"train": [], "unlabeled": []}
    for source, texts in (("train", train_texts), ("unlabeled", unlabeled)):
        stats[f"{source}_texts"] = len(texts)
        for raw in texts:
            text = str(raw) if source == "train" else normalize_text(raw, clean or CleanParams())
            if not text.strip():
                stats["removed_empty"] += 1
                continue
            fingerprint = text_fingerprint(text)
            if fingerprint in seen:
                stats["removed_duplicate"] += 1
                continue
            if not sealed.isdisjoint(candidate_fingerprints(text)):
                stats["removed_test"] += 1
                continue
            if index is not None and index.hits(text):
                stats["removed_near_test"] += 1
                continue
            if fingerprint in excluded:
                stats["removed_valid"] += 1
                continue
            seen.add(fingerprint)
            kept[source].append(text)
    extra = kept["unlabeled"]
    room = None if max_rows is None else max(0, max_rows - len(kept["train"]))
    if room is not None and len(extra) > room:
        chosen = np.sort(np.random.default_rng(seed).choice(len(extra), size=room, replace=False))
        stats["sampled_out"] = len(extra) - room
        extra = [extra[i] for i in chosen]
    texts = kept["train"] + extra
    stats.update(rows=len(texts), from_train=len(kept["train"]), from_unlabeled=len(extra))
    return AdaptCorpus(texts, stats)


def unlabeled_corpus(
    path: str,
    train_texts: Sequence[str],
    valid_texts: Sequence[str],
    *,
    clean: CleanParams,
    max_unlabeled: int,
    test_fingerprints_file: str | Path | None,
    seed: int,
) -> tuple[list[str], dict[str, Any]]:
    """The texts of the unlabeled file ``path`` minus test copies (the split's fingerprint file) and every train
    and valid text, at most ``max_unlabeled`` of them (as adapt builds its corpus): what selftrain pseudo-labels
    and compress's student learns from; -> (texts, build_corpus's stats)."""
    from ratchet.data.io import read_unlabeled_texts
    from ratchet.data.split import text_fingerprint
    from ratchet.fsutil import read_json

    corpus = build_corpus(
        train_texts,  # listed first, so an unlabeled copy of a training text counts as a duplicate and goes
        read_unlabeled_texts(path),
        test_fingerprints=read_json(Path(test_fingerprints_file)) if test_fingerprints_file else (),
        exclude_fingerprints=[text_fingerprint(t) for t in valid_texts],
        clean=clean,
        max_rows=len(train_texts) + max_unlabeled,
        seed=seed,
    )
    return corpus.texts[corpus.stats["from_train"] :], corpus.stats


def candidate_fingerprints(text: str) -> set[str]:
    """Fingerprints of the whole text, each line, each sentence and each run of up to MAX_WINDOW sentences."""
    spans = _sentence_spans(text)
    found = {text_fingerprint(text)}
    for line in text.splitlines():
        if line.strip():
            found.add(text_fingerprint(line))
    for i, (start, _) in enumerate(spans):
        for _, end in spans[i : i + MAX_WINDOW]:
            found.add(text_fingerprint(text[start:end]))
    return found


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, as slices of the original text (so a window is an exact substring)."""
    spans, start = [], 0
    for match in _BOUNDARY.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = max(start, match.end())
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def units(text: str) -> list[str]:
    """CJK characters one by one, other scripts word by word (case-folded): the shingle alphabet."""
    return _UNIT.findall(text.casefold())


def minhash_signature(text: str, num_perm: int = NUM_PERM) -> list[int]:
    """MinHash of the unit 3-shingles of ``text``: what a data step would publish for the test texts."""
    tokens = units(text)
    shingles = {" ".join(tokens[i : i + 3]) for i in range(max(1, len(tokens) - 2))}
    minhash = _minhash(num_perm)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return [int(v) for v in minhash.hashvalues]


def _minhash(num_perm: int, values: Sequence[int] | None = None) -> Any:
    """A MinHash with a fixed seed and hashing scheme (datasketch >= 2 asks for the scheme explicitly)."""
    import inspect

    from datasketch import MinHash

    kwargs: dict[str, Any] = {"num_perm": num_perm, "seed": 1}
    if "scheme" in inspect.signature(MinHash).parameters:
        kwargs["scheme"] = "affine32"
    if values is not None:
        kwargs["hashvalues"] = np.asarray(values, dtype=np.uint64)
    return MinHash(**kwargs)


class _NearIndex:
    """LSH over the test signatures: each corpus text costs one query, not a scan of the test set."""

    def __init__(self, signatures: Sequence[Sequence[int]], threshold: float) -> None:
        from datasketch import MinHashLSH

        self.num_perm = len(signatures[0])
        self.lsh = MinHashLSH(threshold=threshold, num_perm=self.num_perm)
        for i, values in enumerate(signatures):
            self.lsh.insert(str(i), _minhash(self.num_perm, values))

    def hits(self, text: str) -> bool:
        return bool(self.lsh.query(_minhash(self.num_perm, minhash_signature(text, self.num_perm))))


def split_heldout(texts: Sequence[str], seed: int, share: float = 0.1, cap: int = 500) -> tuple[list[str], list[str]]:
    """(pretraining texts, held-out texts): held-out LM loss before/after shows what pretraining learned."""
    n = len(texts)
    n_held = min(cap, max(1, round(n * share))) if n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    held = set(order[:n_held].tolist())
    return [t for i, t in enumerate(texts) if i not in held], [texts[i] for i in sorted(held)]


def unlabeled_sha256(path: str | None) -> str | None:
    """Content hash of the --unlabeled file (None when there is none), for the steps' resume check.

    adapt and selftrain both read the same file; the hash is computed once per file version.
    """
    if not path or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    return _hash_file_version(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _hash_file_version(path: str, mtime_ns: int, size: int) -> str:
    from ratchet.fsutil import hash_path

    return hash_path(Path(path))
