"""Load a shipped model folder (transformer or linear) and turn texts into probabilities.

One interface for ``evaluate`` and ``ratchet predict``: texts are processed in
chunks so 100k-row files never hold padded tensors for every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ratchet.errors import RatchetError
from ratchet.models.decision import Decision

CHUNK_ROWS = 8192


class Predictor(Protocol):
    labels: list
    meta: dict[str, Any]

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray: ...


@dataclass
class TransformerPredictor:
    model: Any
    tokenizer: Any
    labels: list
    meta: dict[str, Any]
    device: str = "cpu"

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        from ratchet.chunking.predict import predict_windowed, windowing_of
        from ratchet.training.encode import encode
        from ratchet.training.inference import predict_probs

        windowing = windowing_of(self.meta)
        if windowing is not None:  # trained on windows (the chunk step): read every token, pool per text
            probs = predict_windowed(self.model, self.tokenizer, texts, pairs, windowing, device=self.device)
            if on_rows is not None:
                on_rows(len(texts))
            return probs
        max_length = int(self.meta.get("max_length", 256))
        pad_id = self.tokenizer.pad_token_id or 0
        chunks = []
        for start in range(0, len(texts), CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            chunk_pairs = None if pairs is None else pairs[start:stop]
            encoded = encode(self.tokenizer, texts[start:stop], chunk_pairs, max_length)
            chunks.append(predict_probs(self.model, encoded, device=self.device, pad_id=pad_id))
            if on_rows is not None:
                on_rows(len(encoded.lengths))
        if not chunks:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(chunks)


@dataclass
class DecidedPredictor:
    """A predictor with its model folder's decision.json applied: calibrated probabilities, biased decisions."""

    base: Any
    decision: Decision

    @property
    def labels(self) -> list:
        return self.base.labels

    @property
    def meta(self) -> dict[str, Any]:
        return self.base.meta

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        return self.decision.calibrated(self.base.predict_probs(texts, pairs, on_rows))

    @property
    def multilabel(self) -> bool:
        return self.meta.get("task") == "multilabel"

    def predict_ids(self, probs: np.ndarray) -> np.ndarray:
        """The decisions for probabilities this predictor returned (its biases applied, if any); a multi-label
        model's are the (rows, labels) 0/1 matrix of label sets (its per-label thresholds applied)."""
        if self.multilabel:
            return self.decision.label_sets(probs)
        return self.decision.decide(probs)


def load_predictor(model_dir: Path, device: str = "cpu") -> DecidedPredictor | Any:
    """The model folder's predictor, with its decision.json (temperature, class biases) applied. An export
    folder (``ratchet export``) is read with onnxruntime on the CPU, whatever ``device`` says."""
    from ratchet.export.predictor import is_export, load_export_predictor

    if is_export(model_dir):
        return load_export_predictor(model_dir)
    return DecidedPredictor(_load_base(Path(model_dir), device), Decision.load(Path(model_dir)))


def _load_base(model_dir: Path, device: str) -> Predictor:
    model_dir = Path(model_dir)
    meta_path = model_dir / "ratchet.json"
    if not meta_path.exists():
        raise RatchetError(f"{model_dir} holds no ratchet model (ratchet.json missing): point at RUN or RUN/model")
    from ratchet.models.load import read_folder_json

    meta = read_folder_json(meta_path)  # a broken ratchet.json is a one-line RatchetError, not a traceback
    kind = meta.get("kind", "transformer")
    if kind == "transformer":
        from ratchet.models.load import load_classifier

        model, tokenizer, labels, meta = load_classifier(model_dir)
        model.to(device).eval()
        return TransformerPredictor(model, tokenizer, labels, meta, device)
    if kind == "int8":
        from ratchet.compress.int8 import load_int8

        model, tokenizer, labels, meta = load_int8(model_dir)
        model.to(device).eval()
        return TransformerPredictor(model, tokenizer, labels, meta, device)
    if kind == "ensemble":
        from ratchet.models.ensemble import load_ensemble_predictor

        return load_ensemble_predictor(model_dir, device)
    if kind == "routed":
        from ratchet.models.routed import load_routed_predictor

        return load_routed_predictor(model_dir, device)
    if kind == "linear":
        from ratchet.models.linear_folder import load_linear_predictor

        return load_linear_predictor(model_dir)
    if kind == "embedding":
        from ratchet.models.embedding_model import load_embedding_predictor

        return load_embedding_predictor(model_dir, device)
    raise RatchetError(f"{model_dir}: unknown model kind {kind!r} in ratchet.json: upgrade ratchet")
