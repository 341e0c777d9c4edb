"""The compress step's settings (``compress.*`` overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ratchet.errors import RatchetError
from ratchet.params import check_at_least, check_share

CANDIDATES = ("int8", "student")


@dataclass(frozen=True)
class CompressParams:
    max_drop: float = 0.005
    """Non-inferiority margin: a lighter model ships when it loses at most this much of the gate metric with
    the rule's confidence (gate.confidence) on the judged rows."""
    min_speedup: float = 1.5
    """... and when it is at least this many times faster than the model it replaces (see speed_at); 0: no
    speed requirement (a smaller model on disk is all that is asked)."""
    speed_at: Literal["batch", "single"] = "batch"
    """batch: throughput at batch 64 (ratchet predict on a file); single: median latency of one text (a server)."""
    candidates: tuple[str, ...] = CANDIDATES
    """int8: dynamic int8 quantization of the shipped model; student: a distilled model with fewer layers."""
    student_layers: float = 0.5
    """Share of the teacher's layers the student keeps (evenly spaced, first and last included)."""
    temperature: float = 2.0
    """Distillation temperature: the student learns the teacher's probabilities softened at it."""
    epochs: float | None = None
    """Student epochs; None: as many as train's."""
    max_unlabeled: int = 5_000
    """Unlabeled texts (--unlabeled) the teacher labels for the student, at most (a seeded sample)."""
    speed_rows: int = 256
    """Judged texts each model is timed on (throughput), the first 32 of them one at a time (latency)."""

    def __post_init__(self) -> None:
        check_share("compress.max_drop", self.max_drop)
        check_share("compress.student_layers", self.student_layers, low=0.0, high=1.0, high_open=True)
        check_at_least("compress.min_speedup", self.min_speedup, 0.0)
        check_at_least("compress.speed_rows", self.speed_rows, 8)
        check_at_least("compress.max_unlabeled", self.max_unlabeled, 0)
        if self.speed_at not in ("batch", "single"):
            raise RatchetError(f"unknown compress.speed_at {self.speed_at!r}: use batch or single")
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown or not self.candidates:
            raise RatchetError(f"compress.candidates must name some of {', '.join(CANDIDATES)}, got {self.candidates}")
        if self.temperature <= 0 or (self.epochs is not None and self.epochs <= 0):
            raise RatchetError("compress params out of range: temperature > 0; epochs > 0 or null")
