"""Near-duplicate texts: MinHash signatures of word sets, LSH banding, exact Jaccard verification.

Two texts are near-duplicates when the Jaccard similarity of their word sets
(case-folded, punctuation dropped; every CJK character counts as a word, since
those scripts have no spaces) reaches the threshold. Exact duplicates that differ
only in case, punctuation or spacing have similarity 1.

Why this design: comparing all pairs is quadratic (2*10^10 pairs for 200k rows), so
candidates come from MinHash + LSH banding, tuned so that a pair *at* the threshold
is a candidate with probability >= 98% (more above it); every candidate is then
verified with its exact Jaccard similarity, so LSH costs recall only marginally and
precision not at all. Everything is vectorized with numpy: words are hashed by
scikit-learn's HashingVectorizer (murmurhash3, the same value in every process, so
signatures computed in one step compare with those of another), permutations are
multiply-shift hashes, and minima are taken per row with ``np.minimum.reduceat``.
Memory is O(rows x words per row) for the word sets plus 4 bytes x NUM_PERM per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from ratchet.fsutil import atomic_write

NUM_PERM = 128
"""Signature length: Jaccard estimates within about +-0.03 at 0.9, 512 bytes per row."""
MIN_RECALL_AT_THRESHOLD = 0.98
"""LSH bands are chosen so a pair exactly at the threshold becomes a candidate this often."""
FULL_BUCKET = 32
"""Buckets up to this size yield all their pairs; larger ones (mass copies) a star and a chain."""
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_JOINERS = re.compile("['\u2018\u2019`\u00b4\u2010\u2011-]")
_N_FEATURES = 2**31 - 1
_CHUNK_NNZ = 1 << 20
_SEED = 20240611


def shingles(text: str, pair: str | None = None) -> list[str]:
    """The word units of a text (and of its pair, marked so they never match the first text's)."""
    units = _words(text)
    if pair is not None:
        units += ["\x1f" + u for u in _words(pair)]
    return units


def _words(text: str) -> list[str]:
    # Apostrophes and hyphens join rather than split, so "I'm"/"Im" and "side-effects"/"sideeffects"
    # (a copy stripped of punctuation) stay the same word.
    return _UNIT.findall(_JOINERS.sub("", text.casefold()))


def shingle_matrix(texts: list[str], pairs: list[str] | None = None) -> sparse.csr_matrix:
    """Binary (rows x 2^31-1) CSR matrix of hashed word units; row i holds text i's distinct units."""
    from sklearn.feature_extraction.text import HashingVectorizer

    docs = list(texts) if pairs is None else list(zip(texts, pairs, strict=True))

    def analyzer(doc: str | tuple[str, str]) -> list[str]:
        return shingles(doc) if isinstance(doc, str) else shingles(*doc)

    hasher = HashingVectorizer(
        analyzer=analyzer, n_features=_N_FEATURES, alternate_sign=False, norm=None, binary=True, dtype=np.float32
    )
    matrix = hasher.transform(docs).tocsr()
    matrix.sum_duplicates()
    return matrix


def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def minhash(matrix: sparse.csr_matrix, num_perm: int = NUM_PERM) -> np.ndarray:
    """(rows, num_perm) uint32 MinHash signatures; a row without words gets all-max (matches nothing)."""
    n = matrix.shape[0]
    out = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    a, b = _permutations(num_perm)
    indptr = matrix.indptr
    start = 0
    while start < n:
        # Rows in chunks of about _CHUNK_NNZ words: temporaries stay small however large the corpus.
        stop = int(np.searchsorted(indptr, indptr[start] + _CHUNK_NNZ, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        lo, hi = int(indptr[start]), int(indptr[stop])
        rows = np.arange(start, stop)
        nonempty = rows[np.diff(indptr[start : stop + 1]) > 0]
        if len(nonempty) and hi > lo:
            x = matrix.indices[lo:hi].astype(np.uint64)
            offsets = (indptr[nonempty] - lo).astype(np.int64)
            with np.errstate(over="ignore"):
                for k in range(num_perm):
                    # Multiply-add-shift: a 2-universal map of 32-bit word hashes to 32-bit values.
                    hashed = ((x * a[k] + b[k]) >> np.uint64(32)).astype(np.uint32)
                    out[nonempty, k] = np.minimum.reduceat(hashed, offsets)
        start = stop
    return out


def lsh_shape(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band): the most selective banding that still catches a pair at the threshold
    with probability MIN_RECALL_AT_THRESHOLD."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= MIN_RECALL_AT_THRESHOLD:
            return bands, rows
    return num_perm, 1


def candidate_pairs(signatures: np.ndarray, threshold: float) -> np.ndarray:
    """(m, 2) int64 row pairs (i < j) that share at least one LSH band bucket, deduplicated."""
    n, num_perm = signatures.shape
    bands, rows = lsh_shape(threshold, num_perm)
    # Rows without words have no signature to speak of: they are nobody's near-duplicate.
    present = np.flatnonzero(~np.all(signatures == np.iinfo(np.uint32).max, axis=1))
    mixers = np.random.default_rng(_SEED + 1).integers(1, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + 1
    codes: list[np.ndarray] = []
    for band in range(bands):
        block = signatures[present, band * rows : (band + 1) * rows].astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = (block * mixers).sum(axis=1, dtype=np.uint64)
        codes.append(_bucket_pairs(keys, present, n))
    if not codes:
        return np.zeros((0, 2), dtype=np.int64)
    unique = np.unique(np.concatenate(codes))
    return np.stack([unique // n, unique % n], axis=1)


def _bucket_pairs(keys: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Pair codes i * n + j (i < j, indices into ``rows``' values) for the rows that share a key."""
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    sizes = np.diff(np.r_[starts, len(ranked)])
    codes: list[np.ndarray] = []
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        members = np.sort(rows[order[start : start + size]])
        if size <= FULL_BUCKET:
            i, j = np.triu_indices(size, k=1)
        else:
            # Star to the first member plus a chain: O(size) pairs, and the groups still connect.
            i = np.r_[np.zeros(size - 1, dtype=np.int64), np.arange(1, size - 1)]
            j = np.r_[np.arange(1, size), np.arange(2, size)]
        codes.append(members[i].astype(np.int64) * n + members[j])
    return np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)


def jaccard(matrix: sparse.csr_matrix, pairs: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Exact Jaccard similarity of the word sets of each row pair."""
    sizes = np.diff(matrix.indptr).astype(np.float64)
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), chunk):
        i, j = pairs[start : start + chunk, 0], pairs[start : start + chunk, 1]
        inter = np.asarray(matrix[i].multiply(matrix[j]).sum(axis=1)).ravel()
        union = sizes[i] + sizes[j] - inter
        out[start : start + chunk] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


@dataclass
class NearDuplicates:
    threshold: float
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    """(m, 2) verified pairs i < j."""
    similarity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Group id per row: rows linked by verified pairs (transitively) share one; -1 = no near-duplicate."""

    def groups(self) -> list[np.ndarray]:
        """Row indices of each group (size >= 2), largest first."""
        found = self.group[self.group >= 0]
        if not len(found):
            return []
        order = np.argsort(self.group, kind="stable")
        order = order[self.group[order] >= 0]
        bounds = np.flatnonzero(np.diff(self.group[order])) + 1
        return sorted(np.split(order, bounds), key=lambda g: (-len(g), int(g[0])))


def _groups_from_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse.csgraph import connected_components

    group = np.full(n, -1, dtype=np.int64)
    if not len(pairs):
        return group
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    linked = np.zeros(n, dtype=bool)
    linked[pairs.ravel()] = True
    # Renumber the components that hold a pair 0..k-1 in order of their first row.
    _, first = np.unique(labels[linked], return_inverse=True)
    group[linked] = first
    return group


@dataclass
class Signed:
    """Texts as word sets (for the exact check) and MinHash signatures (for LSH), row-aligned."""

    sets: sparse.csr_matrix
    signatures: np.ndarray

    def __len__(self) -> int:
        return self.sets.shape[0]


def sign(texts: list[str], pairs: list[str] | None = None) -> Signed:
    sets = shingle_matrix(texts, pairs)
    return Signed(sets, minhash(sets))


def near_duplicates(signed: Signed, threshold: float = 0.9) -> NearDuplicates:
    """Near-duplicate pairs and groups within one collection of texts."""
    candidates = candidate_pairs(signed.signatures, threshold)
    similarity = jaccard(signed.sets, candidates)
    keep = similarity >= threshold - 1e-12
    found, similarity = candidates[keep], similarity[keep]
    return NearDuplicates(threshold, found, similarity, _groups_from_pairs(len(signed), found))


@dataclass
class NearCopies:
    """Rows of a collection that near-duplicate some row of a reference collection (e.g. the test set)."""

    hit: np.ndarray
    """Bool per row of the collection."""
    similarity: np.ndarray
    """Best similarity to any reference row (0 where none reached the threshold)."""
    match: np.ndarray
    """Index of that reference row (-1 where none)."""


def near_copies(signed: Signed, reference: Signed, threshold: float = 0.9) -> NearCopies:
    """Which rows of ``signed`` near-duplicate a row of ``reference`` (LSH over both, cross pairs only)."""
    n = len(signed)
    sets = sparse.vstack([signed.sets, reference.sets], format="csr")
    candidates = candidate_pairs(np.vstack([signed.signatures, reference.signatures]), threshold)
    candidates = candidates[(candidates[:, 0] < n) & (candidates[:, 1] >= n)]
    return _best_matches(n, candidates, jaccard(sets, candidates), threshold)


def near_copies_of_signatures(signed: Signed, reference: np.ndarray, threshold: float = 0.9) -> NearCopies:
    """Like ``near_copies`` when only the reference's signatures exist (``data.test_signatures``: the
    test text itself is sealed). Similarity is the MinHash estimate (+-0.03 at 0.9), not the exact Jaccard."""
    n = len(signed)
    candidates = candidate_pairs(np.vstack([signed.signatures, reference]), threshold)
    candidates = candidates[(candidates[:, 0] < n) & (candidates[:, 1] >= n)]
    estimate = np.empty(len(candidates))
    for start in range(0, len(candidates), 100_000):
        i, j = candidates[start : start + 100_000, 0], candidates[start : start + 100_000, 1] - n
        estimate[start : start + 100_000] = np.mean(signed.signatures[i] == reference[j], axis=1)
    return _best_matches(n, candidates, estimate, threshold)


def _best_matches(n: int, candidates: np.ndarray, similarity: np.ndarray, threshold: float) -> NearCopies:
    keep = similarity >= threshold - 1e-12
    candidates, similarity = candidates[keep], similarity[keep]
    best = np.zeros(n)
    match = np.full(n, -1, dtype=np.int64)
    order = np.argsort(similarity, kind="stable")  # ascending: the best match is written last
    best[candidates[order, 0]] = similarity[order]
    match[candidates[order, 0]] = candidates[order, 1] - n
    return NearCopies(best > 0, best, match)


def load_signatures(path: Path) -> np.ndarray:
    return np.load(Path(path))


def save_signatures(path: Path, signatures: np.ndarray) -> None:
    """Atomically write signatures as .npy (opened as a file: np.save would append .npy to the temp name)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(signatures, dtype=np.uint32))

    atomic_write(Path(path), write)
