"""Cut documents into overlapping windows of at most max_length tokens that together cover every token.

Each document is tokenized once, untruncated, special tokens included; a window keeps every special
token of that sequence (so it reads like a truncated row: [CLS] ... [SEP] for BERT, ... </s> for T5)
and a slice of the content. With a text pair, the shorter segment rides along whole in every window
when it fits in half the room, and the longer one is windowed; when both are longer, each gets half
the room and both are windowed side by side. The last window ends at the document's end, so the tail
is always read in full.

The ``head_tail`` cut (chunk.cut) makes one row per document instead: its first ``head_share`` of the
room and its last tokens for the rest (Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?":
the first 128 and last 382 tokens beat the first 510 on long reviews). It is truncation that keeps the
end as well as the start; a text that fits is read whole, as by every cut. With a pair, the room is
shared as windows share it, and each segment that does not fit its share keeps its head and tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratchet.training.encode import CHUNK, Encoded

Span = tuple[int, int]
Layout = tuple[tuple[Span, ...], tuple[Span, ...]]
"""One row's [start, stop) content spans of the text (segment 0) and of the pair (segment 1)."""
CUTS = ("windows", "head_tail")
HEAD_SHARE = 0.25
"""Share of the room the head_tail cut gives to a text's start (Sun et al.: 128 of 510 tokens)."""


@dataclass
class Windows:
    encoded: Encoded
    """One row per window, as ``training.encode.encode`` lays rows out."""
    doc: np.ndarray
    """The document (row of the input) each window comes from (int64, ascending)."""
    content: np.ndarray
    """Content tokens (special tokens excluded) in each window: the ``tokens`` pooling's weight."""
    n_docs: int

    def per_doc(self) -> np.ndarray:
        """Windows per document."""
        return np.bincount(self.doc, minlength=self.n_docs)


def resolve_stride(stride: int, room: int) -> int:
    """Tokens between window starts for ``room`` content tokens per window (0: half the room)."""
    return max(1, min(stride, room) if stride > 0 else room // 2)


def spans(n: int, room: int, stride: int) -> list[tuple[int, int]]:
    """[start, stop) content spans of at most ``room`` tokens, ``stride`` apart, covering 0..n; the last one
    ends at ``n`` (so it is full whenever the document is longer than one window)."""
    if n <= room:
        return [(0, n)]
    step = resolve_stride(stride, room)
    starts = [*range(0, n - room, step), n - room]
    return [(s, s + room) for s in starts]


def pair_spans(na: int, nb: int, room: int, stride: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(text span, pair span) per window for a pair whose content lengths are ``na`` and ``nb``."""
    if na + nb <= room:
        return [((0, na), (0, nb))]
    half = room // 2
    if nb <= half:  # the pair (a question, a hypothesis) rides along whole; the text is windowed
        return [(span, (0, nb)) for span in spans(na, room - nb, stride)]
    if na <= half:
        return [((0, na), span) for span in spans(nb, room - na, stride)]
    first, second = spans(na, half, stride), spans(nb, room - half, stride)
    n = max(len(first), len(second))
    # Spread the shorter list of spans over the longer one, so every span of each segment is used.
    pick = lambda spans_, i: spans_[round(i * (len(spans_) - 1) / max(n - 1, 1))]  # noqa: E731
    return [(pick(first, i), pick(second, i)) for i in range(n)]


def head_tail(n: int, room: int, head_share: float) -> tuple[Span, ...]:
    """Content spans of one segment of ``n`` tokens cut to ``room``: whole when it fits, else its first
    round(room x head_share) tokens and its last ones for the rest."""
    if n <= room:
        return ((0, n),)
    head = min(room, max(0, round(room * head_share)))
    return tuple(span for span in ((0, head), (n - (room - head), n)) if span[1] > span[0])


def head_tail_layout(na: int, nb: int, room: int, head_share: float, pair: bool) -> Layout:
    """The one row of the head_tail cut; with a pair, the room shared as pair_spans shares it."""
    if not pair:
        return head_tail(na, room, head_share), ()
    if na + nb <= room:
        return ((0, na),), ((0, nb),)
    half = room // 2
    if nb <= half:
        return head_tail(na, room - nb, head_share), ((0, nb),)
    if na <= half:
        return ((0, na),), head_tail(nb, room - na, head_share)
    return head_tail(na, half, head_share), head_tail(nb, room - half, head_share)


def layouts(na: int, nb: int, room: int, stride: int, pair: bool, cut: str, head_share: float) -> list[Layout]:
    """Every row ``cut`` makes of a document whose segments hold ``na`` and ``nb`` content tokens."""
    if cut == "head_tail":
        return [head_tail_layout(na, nb, room, head_share, pair)]
    if cut != "windows":
        raise ValueError(f"unknown cut {cut!r}: use one of {', '.join(CUTS)}")
    if not pair:
        return [((span,), ()) for span in spans(na, room, stride)]
    return [((a,), (b,)) for a, b in pair_spans(na, nb, room, stride)]


def encode_windows(
    tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, stride: int, cut: str = "windows",
    head_share: float = HEAD_SHARE,
) -> Windows:  # fmt: skip
    """Every document's windows, or its one head+tail row (see the module docstring); a document that fits is
    one row, identical to the row ``training.encode.encode`` would make of it."""
    from ratchet.models.load import _quiet_transformers

    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
    want_types = pairs is not None and "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    ids: list[np.ndarray] = []
    types: list[np.ndarray] | None = [] if want_types else None
    doc: list[int] = []
    content: list[int] = []
    specials = tokenizer.num_special_tokens_to_add(pair=pairs is not None)
    room = max(max_length - specials, 1)
    for start in range(0, len(texts), CHUNK):
        chunk = [str(t) for t in texts[start : start + CHUNK]]
        chunk_pairs = None if pairs is None else [str(p) for p in pairs[start : start + CHUNK]]
        with _quiet_transformers():  # untruncated on purpose: "longer than the maximum" is the point here
            batch = tokenizer(chunk, chunk_pairs, truncation=False, padding=False, return_attention_mask=False,
                              return_token_type_ids=want_types)  # fmt: skip
        for i, row in enumerate(batch["input_ids"]):
            row = np.asarray(row, dtype=np.int32)
            segment = np.asarray([-1 if s is None else s for s in batch.sequence_ids(i)], dtype=np.int64)
            # Position of each content token inside its own segment (specials: -1, never cut).
            index = np.full(len(row), -1, dtype=np.int64)
            for s in (0, 1):
                where = segment == s
                index[where] = np.arange(int(where.sum()))
            na, nb = int((segment == 0).sum()), int((segment == 1).sum())
            windows = layouts(na, nb, room, stride, pairs is not None, cut, head_share)
            row_types = None if types is None else np.asarray(batch["token_type_ids"][i], dtype=np.int32)
            for window, keep in zip(windows, _kept_tokens(segment, index, windows), strict=True):
                ids.append(row[keep])
                if types is not None and row_types is not None:
                    types.append(row_types[keep])
                doc.append(start + i)
                content.append(_content_tokens(window))
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
    return Windows(Encoded(ids, lengths, types), np.asarray(doc, dtype=np.int64),
                   np.asarray(content, dtype=np.int64), len(texts))  # fmt: skip


def _kept_tokens(segment: np.ndarray, index: np.ndarray, windows: list[Layout]) -> list[np.ndarray]:
    """Per window, which tokens of the document's row it keeps: every special token and its content spans."""
    kept = []
    for layout in windows:
        keep = segment == -1
        for part, part_spans in enumerate(layout):
            for start, stop in part_spans:
                keep |= (segment == part) & (index >= start) & (index < stop)
        kept.append(keep)
    return kept


def _content_tokens(layout: Layout) -> int:
    return sum(stop - start for part_spans in layout for start, stop in part_spans)


def window_positions(
    special: np.ndarray, max_length: int, stride: int, specials_added: int, cut: str = "windows",
    head_share: float = HEAD_SHARE,
) -> tuple[list[np.ndarray], np.ndarray]:  # fmt: skip
    """For one document without a pair, tokenized untruncated with ``special`` marking its special tokens (the
    tokenizer adds ``specials_added``), each window's token positions in that row and its content-token
    count: exactly the rows encode_windows cuts (explain reads a windowed model's document through them)."""
    special = np.asarray(special, dtype=bool)
    segment = np.where(special, -1, 0)
    index = np.full(len(special), -1, dtype=np.int64)
    index[~special] = np.arange(int((~special).sum()))
    room = max(max_length - specials_added, 1)
    windows = layouts(int((~special).sum()), 0, room, stride, False, cut, head_share)
    positions = [np.flatnonzero(keep) for keep in _kept_tokens(segment, index, windows)]
    return positions, np.asarray([_content_tokens(w) for w in windows], dtype=np.int64)
