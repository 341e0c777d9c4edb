"""A routed model: texts that fit in one window go to one model, longer texts to a windowed one.

The chunk step's windowed fine-tune reads long texts better than a truncated one, but on texts that
fit in max_length tokens both read the same tokens, and the windowed model, trained mostly on
fragments of long documents, is not better there (measured on news articles: a third of the texts
long, the short ones lost up to 0.05 macro-F1). Routing keeps the model trained on whole texts for
the texts it reads whole, and sends only the longer ones to the windows.

A folder of kind "routed" holds ``members/short`` and ``members/long`` (each a complete model folder:
the short one any kind, the long one a windowed fine-tune), labels.json, and in ratchet.json::

    "route": {"window": 128, "long_weight": 0.5}

A text (with its pair) of more than ``window`` tokens of the long member's tokenizer, special tokens
included, goes to the long member; the rest to the short one. ``long_weight`` below 1 (absent: 1) mixes
instead of routing long texts: they get ``long_weight`` x the long member's probabilities plus the rest
x the short member's, two fine-tunes reading one text differently. With ``window`` 0 every text is mixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.fsutil import read_json
from ratchet.models.folder_layout import MEMBERS, save_member_folder

SHORT, LONG = "short", "long"
KEY = "route"


def routed_probs(short: np.ndarray, long: np.ndarray, is_long: np.ndarray, long_weight: float = 1.0) -> np.ndarray:
    """Row by row: where ``is_long``, ``long_weight`` x ``long``'s probabilities + the rest x ``short``'s (1: only
    ``long``'s), else ``short``'s (both laid out alike)."""
    mixed = long if long_weight == 1.0 else long_weight * long + (1.0 - long_weight) * short
    return np.where(np.asarray(is_long, dtype=bool)[:, None], mixed, short).astype(np.float32)


def save_routed(short_dir: Path, long_dir: Path, out_dir: Path, window: int, long_weight: float = 1.0) -> None:
    """Folder of kind "routed" from two complete model folders (copied; hard links where possible)."""
    # The long member's meta (backbone, windowing, recipe) stays visible: steps that skip windowed models
    # (ensemble, compress, chunk itself) skip this one too.
    route: dict[str, Any] = {"window": int(window)}
    if long_weight != 1.0:  # folders that only route keep their earlier, shorter form
        route["long_weight"] = float(long_weight)
    meta = {**read_json(Path(long_dir) / "ratchet.json"), "kind": "routed", KEY: route}
    save_member_folder(Path(out_dir), {SHORT: Path(short_dir), LONG: Path(long_dir)}, Path(long_dir), meta)


def long_weight_of(route: dict[str, Any]) -> float:
    """The long member's weight on long texts: 1 (routing alone) where the folder does not say."""
    return float(route.get("long_weight", 1.0))


@dataclass
class RoutedPredictor:
    short: Any
    long: Any
    """Both DecidedPredictors; the long one is a windowed fine-tune whose tokenizer measures the texts."""
    labels: list
    meta: dict[str, Any]

    @property
    def window(self) -> int:
        return int(self.meta[KEY]["window"])

    @property
    def long_weight(self) -> float:
        return long_weight_of(self.meta[KEY])

    def is_long(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        from ratchet.data.coverage import token_lengths

        return token_lengths(self.long.base.tokenizer, texts, pairs) > self.window

    def members_for(self, text: str, pair: str | None = None) -> list[tuple[Any, float]]:
        """(member, weight) pairs whose probabilities, so weighted, are this text's."""
        if not self.is_long([text], None if pair is None else [pair])[0]:
            return [(self.short, 1.0)]
        weight = self.long_weight
        return [(self.long, 1.0)] if weight == 1.0 else [(self.long, weight), (self.short, 1.0 - weight)]

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        is_long = self.is_long(texts, pairs)
        weight = self.long_weight

        def read(member: Any, rows: np.ndarray) -> np.ndarray:
            return member.predict_probs([texts[i] for i in rows], None if pairs is None else [pairs[i] for i in rows])

        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        # Mixed long texts are read by both members: the short member then reads every text.
        short_rows = np.flatnonzero(~is_long) if weight == 1.0 else np.arange(len(texts))
        long_rows = np.flatnonzero(is_long)
        if len(short_rows):
            out[short_rows] = read(self.short, short_rows)
        if len(long_rows):
            probs = read(self.long, long_rows)
            out[long_rows] = probs if weight == 1.0 else weight * probs + (1.0 - weight) * out[long_rows]
        if on_rows is not None:
            on_rows(len(texts))
        return out


def load_routed_predictor(model_dir: str | Path, device: str = "cpu") -> RoutedPredictor:
    from ratchet.predictor import load_predictor

    model_dir = Path(model_dir)
    short, long = (load_predictor(model_dir / MEMBERS / name, device=device) for name in (SHORT, LONG))
    labels = read_json(model_dir / "labels.json")["labels"]
    return RoutedPredictor(short, long, labels, read_json(model_dir / "ratchet.json"))
