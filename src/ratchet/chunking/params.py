"""The chunk step's settings (``chunk.*`` overrides)."""

from __future__ import annotations

from dataclasses import dataclass

from ratchet.chunking.windows import CUTS, HEAD_SHARE
from ratchet.errors import RatchetError
from ratchet.params import check_at_least, check_share

AGGREGATIONS = ("mean", "max", "tokens", "confidence")
"""How window predictions become one per document (ratchet.chunking.aggregate)."""
LOSSES = ("window", "document")
"""How the windowed fine-tune learns: from each window alone, or from each document's pooled windows."""
ROUTES = ("auto", "always", "never")
"""Whether texts that fit in one window stay with the model that would otherwise ship (ratchet.models.routed)."""


@dataclass(frozen=True)
class ChunkParams:
    threshold: float = 0.1
    """The chunk step runs by itself (in every preset) when more than this share of the train+valid texts is
    longer than train.max_length tokens; below it the step is skipped, and the ledger says why. A recipe that
    names chunk in its steps runs it whatever the share. 0: always; 1: never."""
    stride: int = 0
    """Tokens between the starts of two consecutive windows of a document (each window is train.max_length
    tokens, special tokens included); 0: half a window, so consecutive windows overlap by half."""
    aggregations: tuple[str, ...] = AGGREGATIONS
    """Poolings tried on the judged rows; the best by the gate metric ships. mean: the windows' mean logits;
    max: each class's highest window probability, renormalized; tokens: mean logits weighted by the window's
    token count; confidence: mean logits weighted by the window's top probability."""
    route: str = "auto"
    """always: texts that fit in max_length tokens are read by the model that would ship without chunk (the
    truncated fine-tune, which reads them whole), only longer texts by the windowed one, and both ship (a
    "routed" folder); never: the windowed model reads every text; auto: both tried, the better on the judged
    rows ships (chosen with the pooling, each fold judged by the choice of the other folds)."""

    mix: tuple[float, ...] = (1.0,)
    """The windows' weights tried where they read a text, the reference's probabilities (the model that would
    ship without chunk) getting the rest: 1, the windows alone; 0.5, their mean. Each weight below 1 is tried on
    every text and, with routing, on the long texts only (chunking.options). Default (1,): no mixing. Over 15
    news-article draws (benchmarks/long_documents.py, holdout judging on 36-72 valid rows) the options with
    [1, 0.5] scored better on the sealed tests (+0.024 against truncation on average, +0.020 without), but
    choosing among twice the options on so few rows cost the rule its sight: it kept 4 of 15 candidates
    instead of 6, and what shipped moved the tests +0.013 on average instead of +0.016."""
    cut: str = "windows"
    """How the candidate fine-tune reads a text longer than max_length tokens. windows: every token, in the
    overlapping windows above, pooled per text; head_tail: one row per text, its first head_share of the
    window and its last tokens for the rest (truncation that keeps the end: one row a text, so it trains and
    predicts at the truncated fine-tune's cost; routing and mixing apply to it as to windows). Not the default:
    against head truncation (benchmarks/long_documents.py, 180 texts, a third long) it gained +0.057 on news
    articles (labelled by outlet) and lost 0.006 on 20 Newsgroups (where
    the subject and opening say the group and the tail is a signature)."""
    loss: str = "window"
    """How the windowed fine-tune learns from a long text's windows. window: each window is a training row that
    must predict its text's label alone, even a window of boilerplate; document: the windows of a text are
    batched together and its loss is taken on their mean logits, as the mean pooling predicts (training.pooling:
    multiple-instance learning), so the window that says the label can carry the text. Not the default: over 8
    draws of benchmarks/long_documents.py at 180 texts (a third long) document beat window by +0.023 sealed-test
    macro-F1 (7 of 8), but on 20 Newsgroups at 360 texts it lost 0.074 and 0.031 (likely: it learns more
    slowly, a text's prediction moving by the mean of what its windows learn), +0.009 over all 11 draws. With cut
    head_tail (one row a text) it changes nothing."""
    head_share: float = HEAD_SHARE
    """With cut head_tail, the share of the window's content tokens taken from the text's start (0.25: Sun et
    al.'s 128 of 510; 0 keeps only the tail, 1 is plain head truncation)."""

    def __post_init__(self) -> None:
        check_share("chunk.threshold", self.threshold, high_open=False)
        if self.cut not in CUTS:
            raise RatchetError(f"chunk.cut={self.cut!r} is not allowed: use one of {', '.join(CUTS)}")
        if (
            isinstance(self.head_share, bool)
            or not isinstance(self.head_share, int | float)
            or not (0 <= self.head_share <= 1)
        ):
            raise RatchetError(f"chunk.head_share={self.head_share!r} is not allowed: give a share from 0 to 1")
        if self.loss not in LOSSES:
            raise RatchetError(f"chunk.loss={self.loss!r} is not allowed: use one of {', '.join(LOSSES)}")
        check_at_least("chunk.stride", self.stride, 0)
        if self.route not in ROUTES:
            raise RatchetError(f"chunk.route={self.route!r} is not allowed: use one of {', '.join(ROUTES)}")
        numbers = all(isinstance(w, int | float) and not isinstance(w, bool) for w in self.mix)
        if not self.mix or not numbers or any(not 0 < w <= 1 for w in self.mix):
            raise RatchetError(
                f"chunk.mix={list(self.mix)} is not allowed: give weights above 0 and at most 1, e.g. [1, 0.5]"
            )
        unknown = [a for a in self.aggregations if a not in AGGREGATIONS]
        if unknown or not self.aggregations:
            raise RatchetError(
                f"chunk.aggregations={list(self.aggregations)} is not allowed: use some of {', '.join(AGGREGATIONS)}"
            )
