"""An export folder as one of ratchet's predictors: ``ratchet predict``, ``ratchet.load`` and ``serve``.

Read with ratchet's own copy of the reader (``ratchet.export.reader``), never with the folder's
``ratchet_onnx.py``: that file is there for services without ratchet, and a crafted folder could
put any code in it. What ratchet reads from the folder is data only: JSON, ONNX graphs, the
tokenizer's JSON and (for the TF-IDF baseline) numpy arrays loaded without pickle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratchet.errors import RatchetError
from ratchet.models.decision import Decision

EXPORT_SPEC = "export.json"
CHUNK_ROWS = 8192
"""Rows read per call, so progress moves and a 100k-row file is never tokenized at once."""


def is_export(path: str | Path) -> bool:
    return (Path(path) / EXPORT_SPEC).is_file()


def open_export(folder: str | Path, threads: int | None = None) -> Any:
    """The ExportedModel of an export folder (``threads``: onnxruntime's intra-op threads, None its own choice)."""
    from ratchet.export import reader

    try:
        return reader.ExportedModel(folder, threads=threads)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RatchetError(f"cannot read the export folder {folder} ({type(exc).__name__}: {exc}): "
                           "export it again with ratchet export") from None  # fmt: skip
    except Exception as exc:  # onnxruntime's own errors (a broken graph) have no common base class
        if type(exc).__module__.startswith("onnxruntime"):
            raise RatchetError(f"cannot read the export folder {folder}: onnxruntime says {exc}: "
                               "export it again with ratchet export") from None  # fmt: skip
        raise


@dataclass
class ExportPredictor:
    """The interface of ``predictor.DecidedPredictor`` over an export: calibrated probabilities (the
    temperature is applied inside the export's model tree), decisions by its biases or thresholds."""

    model: Any
    labels: list
    meta: dict[str, Any]
    decision: Decision

    def predict_probs(
        self, texts: list[str], pairs: list[str] | None = None, on_rows: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Probabilities of texts ratchet has already repaired (``ratchet.data.clean``), as its other predictors
        take them: the reader's own repair is skipped, not applied a second time."""
        from ratchet.export.reader import _calibrated

        chunks = []
        for start in range(0, len(texts), CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            chunks.append(_calibrated(self.model.root, texts[start:stop], None if pairs is None else pairs[start:stop]))
            if on_rows is not None:
                on_rows(len(chunks[-1]))
        if not chunks:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)

    @property
    def multilabel(self) -> bool:
        return self.meta.get("task") == "multilabel"

    def predict_ids(self, probs: np.ndarray) -> np.ndarray:
        return self.decision.label_sets(probs) if self.multilabel else self.decision.decide(probs)


def load_export_predictor(folder: str | Path, threads: int | None = None) -> ExportPredictor:
    model = open_export(folder, threads)
    bias = model.root["decision"].get("bias")
    thresholds = model.thresholds
    # The temperature stays 1 here: each node of the export's tree applies its own.
    decision = Decision(bias=bias and tuple(bias), thresholds=thresholds and tuple(thresholds),
                        multilabel=model.multilabel)  # fmt: skip
    meta = {"kind": "export", "clean": _clean_settings(model.clean), "text_pair": model.text_pair,
            "task": "multilabel" if model.multilabel else "single_label", "quantize": model.quantize}  # fmt: skip
    return ExportPredictor(model, list(model.labels), meta, decision)


def _clean_settings(clean: Any) -> dict[str, bool]:
    """The export's text-repair switches that ratchet's CleanParams knows (a hand-edited folder's others are
    dropped rather than failing ``CleanParams(**...)``)."""
    from dataclasses import fields

    from ratchet.config import CleanParams

    known = {f.name for f in fields(CleanParams)}
    return {k: v for k, v in (clean if isinstance(clean, dict) else {}).items() if k in known and isinstance(v, bool)}
