"""One explained text: its words, one score per word toward the target class, and what was predicted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IG = "ig"
OCCLUSION = "occlusion"
METHODS = (IG, OCCLUSION)


@dataclass
class Explanation:
    text: str
    """The text as the model read it (after the run's cleaning)."""
    words: list[str]
    spans: list[tuple[int, int]]
    """Character span of each word in ``text``."""
    scores: list[float]
    """Each word's contribution toward ``target``; positive = evidence for it."""
    label: Any
    """The predicted label (the model's decision). Multi-label: the label this explanation is about (one of the
    predicted set, or the most probable label when the set is empty); the set is ``predicted_labels``."""
    label_id: int
    """Its index in the model's labels."""
    probability: float
    """The calibrated probability of ``label`` (multi-label: its own sigmoid probability)."""
    target: Any
    """The class the scores explain (the predicted label unless asked otherwise)."""
    target_probability: float
    method: str
    space: str
    """What the scores add up to: "probability" (the target's probability minus its value on the
    baseline, IG and ensembles), "logit" (the linear model's class score minus its intercept), or
    "drop" (occlusion: each word's own drop in probability; these need not add up)."""
    value: float
    """The explained quantity on the text (the target probability, or the linear score)."""
    baseline_value: float
    """The same quantity on the baseline (no words: pad embeddings, or no features)."""
    truncated_words: int = 0
    """Words the model never read, their score 0: past its max_length, or the middle of a long text that a
    head+tail model (chunk.cut=head_tail) skips."""
    notes: list[str] = field(default_factory=list)
    row: int = 0
    """The input row explained (a multi-label text gets one explanation per label it explains)."""
    predicted_labels: list[Any] | None = None
    """Multi-label: the predicted label set (possibly empty); None for a single-label model."""

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` words with the largest scores toward the target (a repeated word counts once, at its best)."""
        best: dict[str, float] = {}
        for word, score in zip(self.words, self.scores, strict=True):
            if word not in best or score > best[word]:
                best[word] = score
        return sorted(best.items(), key=lambda item: -item[1])[: max(0, k)]

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """Plain JSON-able fields; ``top`` adds ``top_words`` ([word, score] pairs)."""
        data = asdict(self)
        data["spans"] = [list(span) for span in self.spans]
        for key in ("label", "target"):
            value = data[key]
            data[key] = value.item() if hasattr(value, "item") else value
        if self.predicted_labels is None:  # a single-label record keeps its fields
            del data["predicted_labels"]
        else:
            data["predicted_labels"] = [v.item() if hasattr(v, "item") else v for v in self.predicted_labels]
        if top:
            data["top_words"] = [[w, s] for w, s in self.top(top)]
        return data
