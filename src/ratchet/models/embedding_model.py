"""A frozen encoder's mean-pooled embeddings plus logistic regression: a model folder of kind "embedding".

The cheap strong candidate when no fine-tune fits the time: one forward pass per text through
the pretrained encoder (no training), standardized, then a class-balanced logistic
regression. The folder holds the encoder (hard links to a local copy, safetensors), the
regression's arrays (``embedding.safetensors``) and its settings (``embedding.json``): data
only, like every ratchet model folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.data.frames import labels_record
from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_dir, write_json, write_text
from ratchet.models.folder_layout import refuse_auto_loading

ENCODER = "encoder"
HEAD_FILE = "embedding.safetensors"
SPEC_FILE = "embedding.json"
C_GRID = (0.01, 0.1, 1.0)
"""Standardized dense embeddings need strong regularization (relabel's fast learner uses the same grid)."""


@dataclass
class EmbeddingHead:
    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    n_labels: int

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, n_labels: int, C: float, seed: int = 0) -> EmbeddingHead:
        import warnings

        from sklearn.linear_model import LogisticRegression

        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
        model = LogisticRegression(C=C, max_iter=500, tol=1e-3, class_weight="balanced", random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence at the loose tolerance is expected
            model.fit((x - mean) / std, y)
        return cls(mean, std, model.coef_, model.intercept_, model.classes_.astype(np.int64), n_labels)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        from ratchet.models.decision import softmax

        logits = ((x - self.mean) / self.std) @ self.coef.T + self.intercept
        out = np.zeros((len(x), self.n_labels), dtype=np.float32)
        if self.coef.shape[0] == 1:  # binary: scikit-learn keeps one row of coefficients
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            out[:, self.classes[0]], out[:, self.classes[1]] = 1 - p, p
        else:
            out[:, self.classes] = softmax(logits)
        return out


def save_embedding_model(
    head: EmbeddingHead, backbone: str, max_length: int, labels: list, out_dir: Path, meta: dict[str, Any]
) -> None:
    from safetensors.numpy import save_file

    from ratchet.models.source import resolve_model_path
    from ratchet.shipping import _link_or_copy

    source = Path(resolve_model_path(backbone))
    arrays = {"mean": head.mean, "std": head.std, "coef": head.coef, "intercept": head.intercept,
              "classes": head.classes}  # fmt: skip

    def build(tmp: Path) -> None:
        shutil.copytree(source, tmp / ENCODER, copy_function=_link_or_copy)
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / HEAD_FILE))
        write_text(tmp / SPEC_FILE, json.dumps({"format": 1, "max_length": max_length, "n_labels": head.n_labels}))
        write_json(tmp / "labels.json", labels_record(labels))
        write_json(tmp / "ratchet.json", {**meta, "kind": "embedding", "backbone": backbone, "max_length": max_length})
        refuse_auto_loading(tmp, "embedding")

    atomic_dir(Path(out_dir), build)


@dataclass
class EmbeddingPredictor:
    encoder: str
    max_length: int
    head: EmbeddingHead
    labels: list
    meta: dict[str, Any]
    device: str = "cpu"

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        from ratchet.relabel.features import embed

        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        vectors = embed(self.encoder, list(texts), pairs, max_length=self.max_length, device=self.device)
        if on_rows is not None:
            on_rows(len(texts))
        return self.head.predict_proba(vectors)


def load_embedding_predictor(model_dir: Path, device: str = "cpu") -> EmbeddingPredictor:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from ratchet.models.load import damaged, read_folder_json

    model_dir = Path(model_dir)
    if not (model_dir / HEAD_FILE).is_file() or not (model_dir / ENCODER).is_dir():
        raise RatchetError(f"{model_dir} is not an embedding model ({HEAD_FILE} or {ENCODER}/ missing): pass RUN/model")
    try:
        arrays = load_file(str(model_dir / HEAD_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        raise damaged(model_dir / HEAD_FILE, exc) from None
    spec = read_folder_json(model_dir / SPEC_FILE, "max_length", "n_labels")
    head = EmbeddingHead(arrays["mean"], arrays["std"], arrays["coef"], arrays["intercept"], arrays["classes"],
                         int(spec["n_labels"]))  # fmt: skip
    labels = read_folder_json(model_dir / "labels.json", "labels")["labels"]
    meta = read_folder_json(model_dir / "ratchet.json")
    return EmbeddingPredictor(str(model_dir / ENCODER), int(spec["max_length"]), head, labels, meta, device)
