"""A routed model: texts that fit in one window go to one model, longer texts to a windowed one.

The chunk step's windowed fine-tune reads long texts better than a truncated one, but on texts that
fit in max_length tokens both read the same tokens, and the windowed model, trained mostly on
fragments of long documents, is not better there (measured on news articles: a third of the texts
long, the short ones lost up to 0.05 macro-F1). Routing keeps the model trained on whole texts for
the texts it reads whole, and sends only the longer ones to the windows.

A folder of kind "routed" holds ``members/short`` and ``members/long`` (each a complete model folder:
the short one any kind, the long one a windowed fine-tune), labels.json, and in ratchet.json::

    "route": {"window": 128}

A text (with its pair) of more than ``window`` tokens of the long member's tokenizer, special tokens
included, goes to the long member; the rest to the short one.
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


def routed_probs(short: np.ndarray, long: np.ndarray, is_long: np.ndarray) -> np.ndarray:
    """Row by row: ``long``'s probabilities where ``is_long``, else ``short``'s (both laid out alike)."""
    return np.where(np.asarray(is_long, dtype=bool)[:, None], long, short).astype(np.float32)


def save_routed(short_dir: Path, long_dir: Path, out_dir: Path, window: int) -> None:
    """Folder of kind "routed" from two complete model folders (copied; hard links where possible)."""
    # The long member's meta (backbone, windowing, recipe) stays visible: steps that skip windowed models
    # (ensemble, compress, chunk itself) skip this one too.
    meta = {**read_json(Path(long_dir) / "ratchet.json"), "kind": "routed", KEY: {"window": int(window)}}
    save_member_folder(Path(out_dir), {SHORT: Path(short_dir), LONG: Path(long_dir)}, Path(long_dir), meta)


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

    def is_long(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        from ratchet.data.coverage import token_lengths

        return token_lengths(self.long.base.tokenizer, texts, pairs) > self.window

    def member_for(self, text: str, pair: str | None = None) -> Any:
        return self.long if self.is_long([text], None if pair is None else [pair])[0] else self.short

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        is_long = self.is_long(texts, pairs)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for member, rows in ((self.short, np.flatnonzero(~is_long)), (self.long, np.flatnonzero(is_long))):
            if len(rows):
                out[rows] = member.predict_probs([texts[i] for i in rows],
                                                 None if pairs is None else [pairs[i] for i in rows])  # fmt: skip
        if on_rows is not None:
            on_rows(len(texts))
        return out


def load_routed_predictor(model_dir: str | Path, device: str = "cpu") -> RoutedPredictor:
    from ratchet.predictor import load_predictor

    model_dir = Path(model_dir)
    short, long = (load_predictor(model_dir / MEMBERS / name, device=device) for name in (SHORT, LONG))
    labels = read_json(model_dir / "labels.json")["labels"]
    return RoutedPredictor(short, long, labels, read_json(model_dir / "ratchet.json"))
