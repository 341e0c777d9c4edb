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
    max_pairs: int = 640
    """Cap on the pairs generated: time and memory stay flat however many rows there are."""
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
    frozen_layers: int = -1
    """Keep the embeddings and this many lower layers at their pretrained weights in the contrastive phase,
    their outputs computed once per text (training.frozen, as train.frozen_layers): -1, two thirds of the
    layers of an encoder with six or more (4 of the default MiniLM's 6); 0, every layer trains (SetFit's way,
    about three times the CPU time per pair)."""

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
