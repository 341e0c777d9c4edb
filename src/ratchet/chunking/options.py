"""The chunk step's options on the judged rows: a pooling of the windows, routed or not, mixed or not.

- plain (``mean``): the windowed model reads every text;
- routed (``mean (routed)``): texts that fit in one window keep the reference's probabilities (the model
  that would ship without chunk, which reads them whole), longer ones get the windows';
- mixed (``mean (mixed 0.5)``, ``mean (routed, mixed 0.5)``): where the windows read a text (every text,
  or only the long ones), their probabilities weighted 0.5 and the reference's the rest (chunk.mix; off
  by default). Both models then read those texts; on news articles (benchmarks/long_documents.py) the two
  fine-tunes, one on the head of each text and one on its windows, erred differently enough that their
  mean scored better than the windows alone on average, but the extra options cost the rule's choice
  among them more than that on small validation splits (ChunkParams.mix).

Every option that needs the reference's probabilities ships as a "routed" folder (ratchet.models.routed):
window max_length when routed, 0 (every text) when mixed everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratchet.chunking.params import ChunkParams
from ratchet.models.routed import routed_probs


@dataclass(frozen=True)
class Option:
    aggregation: str
    routed: bool = False
    long_weight: float = 1.0
    """The windows' weight where they read a text; the reference's probabilities get the rest."""

    @property
    def name(self) -> str:
        tags = ["routed"] if self.routed else []
        tags += [f"mixed {self.long_weight:g}"] if self.long_weight != 1.0 else []
        return f"{self.aggregation} ({', '.join(tags)})" if tags else self.aggregation

    @property
    def needs_reference(self) -> bool:
        """Ships both models (a routed folder), not the windowed one alone."""
        return self.routed or self.long_weight != 1.0


ROUTES = {"never": (False,), "always": (True,), "auto": (False, True)}


def chunk_options(
    pooled: dict[str, np.ndarray], reference: np.ndarray | None, is_long: np.ndarray, route: str,
    mix: tuple[float, ...],
) -> dict[str, tuple[Option, np.ndarray]]:  # fmt: skip
    """name -> (option, its judged probabilities), the simplest first (max keeps the first of equal scores, so a
    tie ships one model, not two). Without reference probabilities only the windows alone are options."""
    if reference is None:
        return {how: (Option(how), probs) for how, probs in pooled.items()}
    every_text = np.ones(len(is_long), dtype=bool)
    out: dict[str, tuple[Option, np.ndarray]] = {}
    for weight in sorted({float(w) for w in mix}, reverse=True):  # 1 (the windows alone) first
        for routed in ROUTES[route]:
            for how, probs in pooled.items():
                option = Option(how, routed, weight)
                if option.needs_reference:
                    probs = routed_probs(reference, probs, is_long if routed else every_text, weight)
                out[option.name] = (option, probs)
    return out


def describe(option: Option, chunk: ChunkParams, max_length: int) -> str:
    """What ships, in the ledger's words."""
    if chunk.cut == "head_tail":
        windows = (f"the fine-tune on each text's head and tail ({chunk.head_share:.0%} of {max_length} tokens from "
                   "its start, the rest from its end)")  # fmt: skip
    else:
        step = f"{chunk.stride} tokens apart" if chunk.stride else "overlapping by half"
        learnt = "each text learnt from its windows' mean logits" if chunk.loss == "document" else "window by window"
        windows = (f"the fine-tune on windows of {max_length} tokens ({step}; {learnt}), window predictions pooled "
                   f"by {option.aggregation}")  # fmt: skip
    if option.long_weight != 1.0:
        windows = (f"{windows} (weight {option.long_weight:g}) and the model that shipped before "
                   f"(weight {1 - option.long_weight:g}), probabilities mixed")  # fmt: skip
    if not option.routed:
        return windows if option.long_weight == 1.0 else f"every text read by both: {windows}"
    longer = "longer ones by" if option.long_weight == 1.0 else "longer ones by both:"
    return f"texts of at most {max_length} tokens read by the model that shipped before, {longer} {windows}"
