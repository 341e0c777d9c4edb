"""The few-shot candidate's settings (``fewshot.*`` overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ratchet.errors import RatchetError
from ratchet.params import check_at_least, check_share


@dataclass(frozen=True)
class FewShotParams:
    enter: Literal["auto", "always", "never"] = "auto"
    """auto: select adds the few-shot candidate when the smallest class has fewer than ``enter_below`` training
    rows and the median class fewer than ``median_below``; always / never: regardless of class sizes (a
    mean-pooling backbone and single texts still required)."""
    enter_below: int = 40
    """auto enters when the smallest class of the training rows has fewer rows than this. On TREC questions
    (benchmarks/fewshot.py, 2026-12-04) the few-shot fit beat the standard fine-tune (150 steps) at 8, 16 and 32
    a class on every draw (+0.054, +0.067, +0.040) and all but tied it at 64 (+0.010, 3 draws) at nine times the
    seconds: it enters below 40. That also keeps it out of the drug reviews' runs (about 43 neutral rows in a
    fold's training part), where at 64 a class TF-IDF beat both and the candidate would cost five fits of
    several minutes. (It was 24 when the fit froze 4 of 6 layers and lost at 32.)"""
    median_below: int = 64
    """auto also needs the median class under this many training rows: a data set whose typical class has 64 rows
    or more is not few-shot data (on TREC at 64 a class the few-shot fit tied the standard fine-tune at nine
    times its seconds), and a rare class in it is imbalance, which the fine-tune's class weights handle."""
    pairs_per_row: int = 10
    """Positive and negative pairs drawn per training row and round (SetFit's num_iterations): 2 x this x rows."""
    max_pairs: int = 3840
    """Cap on the pairs generated: time and memory stay flat however many rows there are. 3840 is SetFit's own
    budget at 96 rows (its 20 iterations); with ``pairs_per_row`` 10 (20 pairs a row) it binds from 192 training
    rows on. Below it the pairs are 20 per row, the number that beat the standard fine-tune on TREC
    (benchmarks/fewshot.py; 640, the earlier cap, trained 40 steps and lost to it)."""
    epochs: float = 1.0
    """Passes over the generated pairs."""
    learning_rate: float = 2e-5
    """AdamW learning rate of the contrastive phase (SetFit's default body learning rate)."""
    batch_size: int = 16
    """Pairs per optimizer step."""
    max_length: int = 128
    """Texts are truncated to this many tokens in both phases (and by the shipped model)."""
    head_c: float = 1.0
    """Inverse L2 strength of the logistic-regression head (scikit-learn's C)."""
    frozen_layers: int = 0
    """Keep the embeddings and this many lower layers at their pretrained weights in the contrastive phase,
    their outputs computed once per text (training.frozen, as train.frozen_layers): 0, every layer trains
    (SetFit's way); -1, two thirds of the layers of an encoder with six or more (4 of the default MiniLM's 6),
    about a third of the CPU time per pair. On TREC at 16 a class, 1,920 pairs with every layer trained scored
    0.811 against 0.681 with 4 of 6 layers frozen (3 draws): the frozen encoder cannot move its embedding space
    far enough, and lost to the standard fine-tune (0.744)."""

    def __post_init__(self) -> None:
        if self.enter not in ("auto", "always", "never"):
            raise RatchetError(f"fewshot.enter={self.enter!r} is not understood: use auto, always or never")
        for name in ("enter_below", "median_below", "pairs_per_row", "max_pairs", "batch_size"):
            check_at_least(f"fewshot.{name}", getattr(self, name), 1)
        check_at_least("fewshot.max_length", self.max_length, 8)
        check_at_least("fewshot.frozen_layers", self.frozen_layers, -1)
        if self.epochs <= 0 or self.learning_rate <= 0 or self.head_c <= 0:
            raise RatchetError("fewshot.epochs, fewshot.learning_rate and fewshot.head_c must be above 0")
        check_share("fewshot.learning_rate", self.learning_rate)
