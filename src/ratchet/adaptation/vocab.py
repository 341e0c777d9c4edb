"""Vocabulary extension: teach the tokenizer the units of the task's text it cannot read.

A unit is a CJK character (Chinese and Japanese text has no spaces, and a
character is the unit a classifier needs) or a word in any other script. A unit
is *covered* when the tokenizer turns it into known tokens without the unknown
token: one token for a CJK character (byte fragments of a character carry
nothing a pretrained model has learned), at most ``MAX_WORD_PIECES`` for a word.
All-MiniLM-L6-v2 covers about a third of the characters of Chinese reviews, so
two thirds reach the model as ``[UNK]``.

The extension appends tokens (existing ids never move) as added tokens, which
every fast-tokenizer family supports (WordPiece, BPE, Unigram) and which
``save_pretrained`` writes into ``tokenizer.json``: the adapted checkpoint,
the trained model and ``predict`` all tokenize the same way. A new word's
embedding starts at the mean of its old pieces, so it starts close to its old
spelling. A token with no known piece (a CJK character that was ``[UNK]``) is
placed by how the adaptation corpus uses it (``cooccurrence``): near the old
tokens used alike, with the typical spread of the existing embeddings, so
characters used alike start close together. Without a corpus (or for a token
too rare to have statistics) it gets
a seeded draw from that normal distribution: it looks like a typical token, and
- unlike the bare mean, which every such token would share - it is
distinguishable from the first step on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

MAX_WORD_PIECES = 3
"""A word split into more pieces than this counts as uncovered (its meaning is spread thin)."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_IS_CJK = re.compile(rf"^[{_CJK}]$")
# Word characters other than CJK, with at least one letter: numbers are not vocabulary worth adding.
_UNIT = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class Coverage:
    coverage: float
    """Share of unit occurrences the tokenizer covers."""
    unk_share: float
    """Share of unit occurrences that contain the unknown token."""
    pieces_per_unit: float
    """Mean tokens per unit occurrence (fragmentation)."""
    units: int
    """Unit occurrences counted."""
    distinct: int
    uncovered: Counter = field(default_factory=Counter, repr=False)
    """Uncovered unit -> occurrences: the candidates for the extension."""

    def summary(self) -> dict[str, float | int]:
        return {
            "coverage": round(self.coverage, 4),
            "unk_share": round(self.unk_share, 4),
            "pieces_per_unit": round(self.pieces_per_unit, 3),
            "units": self.units,
            "distinct_units": self.distinct,
            "distinct_uncovered": len(self.uncovered),
        }


def is_cjk(unit: str) -> bool:
    return bool(_IS_CJK.match(unit))


def text_units(tokenizer, texts: Iterable[str]) -> Counter:
    """Unit counts after the tokenizer's own normalizer (lowercasing, accents), so added units match."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    counts: Counter = Counter()
    for text in texts:
        normalized = normalizer.normalize_str(text) if normalizer is not None else text
        counts.update(u for u in _UNIT.findall(normalized) if _LETTER.search(u))
    return counts


def measure_coverage(tokenizer, texts: Sequence[str]) -> Coverage:
    """How well ``tokenizer`` covers the units of ``texts`` (see the module docstring)."""
    counts = text_units(tokenizer, texts)
    if not counts:
        return Coverage(1.0, 0.0, 0.0, 0, 0)
    distinct = list(counts)
    pieces = tokenizer(distinct, add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    total = covered = with_unk = n_pieces = 0
    uncovered: Counter = Counter()
    for unit, ids in zip(distinct, pieces, strict=True):
        n = counts[unit]
        has_unk = unk is not None and unk in ids
        limit = 1 if is_cjk(unit) else MAX_WORD_PIECES
        total += n
        n_pieces += n * len(ids)
        with_unk += n * has_unk
        if ids and not has_unk and len(ids) <= limit:
            covered += n
        else:
            uncovered[unit] = n
    return Coverage(covered / total, with_unk / total, n_pieces / total, total, len(distinct), uncovered)


def plan_extension(coverage: Coverage, *, max_new: int, min_count: int) -> list[str]:
    """The most frequent uncovered units seen at least ``min_count`` times (ties broken by the unit)."""
    ranked = sorted((u for u, n in coverage.uncovered.items() if n >= min_count),
                    key=lambda u: (-coverage.uncovered[u], u))  # fmt: skip
    return ranked[:max_new]


def extend_vocabulary(
    model: torch.nn.Module, tokenizer, tokens: Sequence[str], seed: int = 0, corpus: Sequence[str] | None = None
) -> dict[str, int]:
    """Add ``tokens`` to ``tokenizer`` (in place), resize ``model`` and initialize the new rows.

    ``corpus``: the adaptation texts; tokens without known pieces are placed by their co-occurrence
    there (see the module docstring). Existing token ids and embedding rows are untouched; the rows
    depend only on ``seed`` and the corpus (a resumed run rebuilds the same rows). Returns counts for
    the manifest.
    """
    from tokenizers import AddedToken

    unk = tokenizer.unk_token_id
    special = set(tokenizer.all_special_ids)
    old_rows = model.get_input_embeddings().weight.shape[0]
    first_new = len(tokenizer)
    # The old pieces of each new token, read before the tokenizer learns it.
    pieces = tokenizer(list(tokens), add_special_tokens=False)["input_ids"] if tokens else []
    # A CJK character is a token wherever it occurs; a word only as a whole word ("drug" not in "drugs").
    added = tokenizer.add_tokens([AddedToken(t, single_word=not is_cjk(t), normalized=True) for t in tokens])
    if not added:
        return {"tokens_added": 0, "vocab_before": old_rows, "vocab_after": old_rows}
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    # Some checkpoints pad their embedding matrix past the tokenizer: never shrink it.
    model.resize_token_embeddings(max(old_rows, len(tokenizer)), mean_resizing=False)
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    untied_out = outputs is not None and outputs.weight is not inputs and outputs.weight.shape[0] == inputs.shape[0]
    out_bias = getattr(outputs, "bias", None) if outputs is not None else None
    with torch.no_grad():
        draw = _embedding_sampler(inputs[:old_rows], seed)
        mean_out = outputs.weight[:old_rows].mean(0) if untied_out else None
        bias_mean = out_bias[:old_rows].mean() if out_bias is not None and out_bias.shape[0] > old_rows else None
        initialized_from_pieces = 0
        unseen: list[int] = []
        for new_id, old_ids in zip(ids, pieces, strict=True):
            if new_id < first_new:
                continue  # already a token of the vocabulary: add_tokens skipped it
            useful = [i for i in old_ids if i != unk and i not in special and i < old_rows]
            initialized_from_pieces += bool(useful)
            if useful:
                inputs[new_id] = inputs[useful].mean(0)
            else:
                unseen.append(new_id)
                inputs[new_id] = draw()
            if untied_out:
                outputs.weight[new_id] = outputs.weight[useful].mean(0) if useful else mean_out
            if bias_mean is not None:
                out_bias[new_id] = out_bias[useful].mean() if useful else bias_mean
        placed, anchors = _place_by_cooccurrence(inputs, old_rows, unseen, tokenizer, corpus, seed)
    return {
        "tokens_added": int(added),
        "from_pieces": int(initialized_from_pieces),
        "from_cooccurrence": int(placed),
        "cooccurrence_anchors": int(anchors),
        "sampled": int(added - initialized_from_pieces - placed),
        "vocab_before": int(old_rows),
        "vocab_after": int(model.get_input_embeddings().weight.shape[0]),
    }


def _place_by_cooccurrence(inputs: torch.Tensor, old_rows: int, new_ids: list[int], tokenizer,
                           corpus: Sequence[str] | None, seed: int) -> tuple[int, int]:  # fmt: skip
    """Overwrite the rows of ``new_ids`` that have corpus statistics -> (rows placed, anchors used)."""
    from ratchet.adaptation.cooccurrence import cooccurrence_vectors, map_from_anchors, place_on_principal_axes

    if not corpus or len(new_ids) < 2:
        return 0, 0
    vectors = cooccurrence_vectors(tokenizer, corpus, seed=seed)
    found = vectors.rows_for(new_ids) if vectors is not None else {}
    if len(found) < 2:  # one row has no spread to scale
        return 0, 0
    chosen = sorted(found)
    coordinates = np.stack([found[i] for i in chosen])
    special = set(tokenizer.all_special_ids)
    anchor_ids = [i for i in vectors.ids.tolist() if i < old_rows and i not in special]
    mapped = map_from_anchors(inputs[:old_rows], vectors, anchor_ids, coordinates)
    if mapped is None:
        inputs[chosen] = place_on_principal_axes(inputs[:old_rows], coordinates, seed)
        return len(chosen), 0
    inputs[chosen] = mapped
    return len(chosen), len(anchor_ids)  # every anchor id comes from vectors.ids


def _embedding_sampler(weights: torch.Tensor, seed: int):
    """A function drawing rows from N(mean, covariance) of ``weights`` (float64 Cholesky, jitter if needed)."""
    rows = weights.detach().double()
    mean = rows.mean(0)
    centered = rows - mean
    cov = centered.T @ centered / max(1, rows.shape[0] - 1)
    jitter = 1e-6 * float(cov.diagonal().mean()) or 1e-12
    factor, info = torch.linalg.cholesky_ex(cov + jitter * torch.eye(cov.shape[0], dtype=cov.dtype))
    if int(info) != 0:  # not positive definite even with jitter: per-dimension spread only
        factor = torch.diag(cov.diagonal().clamp_min(0).sqrt())
    generator = torch.Generator().manual_seed(seed)

    def draw() -> torch.Tensor:
        z = torch.randn(mean.shape[0], generator=generator, dtype=torch.float64)
        return (mean + factor @ z).to(weights.dtype).to(weights.device)

    return draw
