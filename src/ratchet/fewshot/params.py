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
    rows; always / never: regardless of class sizes (a mean-pooling backbone and single texts still required)."""
    enter_below: int = 24
    """auto enters when the smallest class of the training rows has fewer rows than this. On TREC questions
    (benchmarks/fewshot.py) the few-shot fit beat the standard fine-tune at 8 and 16 a class (+0.121 and
    +0.071, 5 draws each) and lost at 32 (-0.071, 3 draws) and 64 (-0.131, 5 draws): it enters below the
    midpoint. (It was 64, which also let it into the drug reviews' runs, about 45 neutral rows a fold, for
    nothing.)"""
    pairs_per_row: int = 10
    """Positive and negative pairs drawn per training row and round (SetFit's num_iterations): 2 x this x rows."""
    max_pairs: int = 3840
    """Cap on the pairs generated: time and memory stay flat however many rows there are. 3840 is SetFit's own
    budget at 96 rows (its 20 iterations); at 10 pairs a row it binds from 192 training rows on. Below it the
    pairs are 20 per row, the number that beat the standard fine-tune on TREC (benchmarks/fewshot.py; 640, the
    earlier cap, trained 40 steps and lost to it)."""
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
        for name in ("enter_below", "pairs_per_row", "max_pairs", "batch_size"):
            check_at_least(f"fewshot.{name}", getattr(self, name), 1)
        check_at_least("fewshot.max_length", self.max_length, 8)
        check_at_least("fewshot.frozen_layers", self.frozen_layers, -1)
        if self.epochs <= 0 or self.learning_rate <= 0 or self.head_c <= 0:
            raise RatchetError("fewshot.epochs, fewshot.learning_rate and fewshot.head_c must be above 0")
        check_share("fewshot.learning_rate", self.learning_rate)
