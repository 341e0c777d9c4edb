"""Parameters of the steps that learn from unlabeled text: adapt (continued pretraining) and selftrain
(pseudo-labels). Re-exported by ratchet.config like every step's params."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ratchet.errors import RatchetError


@dataclass(frozen=True)
class AdaptParams:
    unlabeled: str | None = None
    """Optional file of unlabeled in-domain text for continued pretraining."""
    epochs: float = 2.0
    """Passes over the adaptation corpus (the step's time budget stops it earlier if need be). On Chinese
    reviews with 2,600 new characters, 3 epochs reached a held-out MLM loss of 3.9 against 4.8 after 1,
    yet the fine-tuned classifiers scored the same on the sealed test (mean of three seeds)."""
    mlm_probability: float = 0.15
    whole_word_masking: bool = False
    extend_vocab: bool = True
    """Add frequent uncovered tokens when the data report shows poor tokenizer coverage."""
    min_coverage: float = 0.9
    """Extend the vocabulary only when fewer than this share of words (CJK: characters) tokenize cleanly."""
    max_new_tokens: int = 5000
    """At most this many tokens are added to the vocabulary."""
    min_token_count: int = 3
    """A token is added only if it occurs at least this often in the adaptation corpus."""
    new_token_init: Literal["cooccurrence", "sample"] = "cooccurrence"
    """Start of a new token without known pieces (a CJK character that was [UNK]): placed by its
    co-occurrence in the adaptation corpus (similar characters start close), or a random draw from
    the embedding distribution."""
    learning_rate: float = 1e-4
    """Peak AdamW rate of continued pretraining (new embeddings must move, so above fine-tuning rates)."""
    max_length: int = 128
    """Longer corpus texts are cut into windows of this many tokens (none is thrown away)."""
    batch_size: int = 32
    max_tokens: int = 4096
    """Token budget per pretraining batch (sequences x padded length)."""
    max_corpus_rows: int = 100_000
    """The unlabeled corpus is sampled down to this many texts (training texts always stay)."""
    probe_epochs: float | None = None
    """Fine-tuning epochs of the two probes (adapted vs original backbone) that the ratchet rule compares;
    None: train.epochs, so the probes are the fits train would run (the run's fit cache then hands the
    original probe over from select, and the adapted one on to train). Short probes misjudge new
    embeddings: on Chinese reviews a 1-epoch probe scored the adapted model 0.59 against 0.65, while
    4-epoch fine-tunes gave 0.79 against 0.71."""
    pretrain_share: float = 0.5
    """Share of the step's time budget for pretraining; the probes share the rest equally."""

    def __post_init__(self) -> None:
        if not 0.0 < self.mlm_probability < 1.0 or not 0.0 < self.min_coverage <= 1.0:
            raise RatchetError("adapt.mlm_probability must be in (0, 1) and adapt.min_coverage in (0, 1]")
        probe_ok = self.probe_epochs is None or self.probe_epochs > 0
        if self.epochs <= 0 or not probe_ok or self.learning_rate <= 0 or self.max_length < 8:
            raise RatchetError("adapt params out of range: epochs, probe_epochs, learning_rate > 0; max_length >= 8")
        if self.new_token_init not in ("cooccurrence", "sample"):
            raise RatchetError(f"unknown adapt.new_token_init {self.new_token_init!r}: use cooccurrence or sample")
        if self.max_tokens < self.max_length or not 0.0 < self.pretrain_share < 1.0:
            raise RatchetError("adapt.max_tokens must be >= adapt.max_length and adapt.pretrain_share in (0, 1)")


@dataclass(frozen=True)
class SelfTrainParams:
    threshold: float = 0.9
    """An unlabeled text gets a pseudo-label only when the shipped model (the teacher) gives its top class
    at least this probability."""
    max_ratio: float = 4.0
    """Pseudo-labeled rows per class at most this many times that class's gold training rows (the most
    confident first): they cannot drown the gold labels or tip the class balance."""
    epochs: float = 3.0
    """Epochs of the student, fine-tuned from the backbone on gold + pseudo-labeled rows. Its epochs are up
    to 1 + max_ratio times longer than train's, so it gets fewer of them."""
    weight: float = 1.0
    """Loss weight of a pseudo-labeled row (a gold row weighs 1)."""
    max_unlabeled: int = 20_000
    """The teacher labels at most this many unlabeled texts (a seeded sample of the corpus)."""
    seeds: int | None = None
    """Student seeds; None: as many as the ensemble step's when the recipe has one (a seed-ensemble teacher then
    faces a student ensemble), else 1. Each student costs up to 1 + max_ratio times a train fit per epoch."""

    def __post_init__(self) -> None:
        if self.seeds is not None and self.seeds < 1:
            raise RatchetError(f"selftrain.seeds={self.seeds} must be at least 1")
        if not 0.0 <= self.threshold < 1.0 or self.max_ratio <= 0 or self.epochs <= 0:
            raise RatchetError("selftrain params out of range: threshold in [0, 1); max_ratio, epochs > 0")
        if self.weight <= 0 or self.max_unlabeled < 1:
            raise RatchetError("selftrain params out of range: weight > 0, max_unlabeled >= 1")
