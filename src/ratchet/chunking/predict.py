"""A shipped model's windowing applied to new texts: the same windows as in training, pooled the same way.

A model folder trained on windows records them in its ratchet.json::

    "windowing": {"stride": 64, "aggregation": "mean", "window": 128}

(``window`` is max_length). ``ratchet predict``, ``ratchet.load`` and ``serve`` all go through the
predictor, which calls ``predict_windowed`` whenever that key is present.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KEY = "windowing"
DOCS_PER_PASS = 512
"""Documents windowed at a time: a file of very long texts never holds every window in memory."""


def windowing_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    found = meta.get(KEY)
    return found if isinstance(found, dict) else None


def windowing_meta(stride: int, aggregation: str, max_length: int) -> dict[str, Any]:
    return {KEY: {"stride": int(stride), "aggregation": aggregation, "window": int(max_length)}}


def predict_windowed(
    model: Any, tokenizer: Any, texts: list[str], pairs: list[str] | None, windowing: dict[str, Any], *, device: str
) -> np.ndarray:
    """(len(texts), n_labels) probabilities: each text's windows predicted, then pooled per text."""
    from ratchet.chunking.aggregate import aggregate
    from ratchet.chunking.windows import encode_windows
    from ratchet.training.inference import predict_probs

    pad_id = tokenizer.pad_token_id or 0
    out = []
    for start in range(0, len(texts), DOCS_PER_PASS):
        stop = start + DOCS_PER_PASS
        windows = encode_windows(tokenizer, texts[start:stop], None if pairs is None else pairs[start:stop],
                                 int(windowing["window"]), int(windowing["stride"]))  # fmt: skip
        probs = predict_probs(model, windows.encoded, device=device, pad_id=pad_id)
        out.append(aggregate(probs, windows.doc, windows.n_docs, str(windowing["aggregation"]), windows.content))
    if not out:
        return np.zeros((0, int(model.config.num_labels)), dtype=np.float32)
    return np.concatenate(out)
