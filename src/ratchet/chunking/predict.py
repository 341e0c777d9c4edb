"""A shipped model's windowing applied to new texts: the same windows as in training, pooled the same way.

A model folder trained on windows records them in its ratchet.json::

    "windowing": {"stride": 64, "aggregation": "mean", "window": 128, "cut": "windows", "loss": "window"}

(``window`` is max_length; ``loss`` how the fine-tune learnt from the windows, for ``--refit-all`` only;
``cut`` ``head_tail`` adds ``"head_share": 0.25`` instead: one row per text, its head and tail,
chunking.windows; a folder written before ``cut`` existed has windows, before ``loss`` window). ``ratchet predict``,
``ratchet.load`` and ``serve`` all go through the predictor, which calls ``predict_windowed`` whenever that
key is present.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ratchet.chunking.windows import CUTS, HEAD_SHARE
from ratchet.errors import RatchetError

KEY = "windowing"
DOCS_PER_PASS = 512
"""Documents windowed at a time: a file of very long texts never holds every window in memory."""


def windowing_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    found = meta.get(KEY)
    return found if isinstance(found, dict) else None


def windowing_meta(
    stride: int, aggregation: str, max_length: int, cut: str = "windows", head_share: float = HEAD_SHARE,
    loss: str = "window",
) -> dict[str, Any]:  # fmt: skip
    found: dict[str, Any] = {"stride": int(stride), "aggregation": aggregation, "window": int(max_length), "cut": cut}
    if cut == "head_tail":
        found["head_share"] = float(head_share)
    else:  # how it learnt, for --refit-all (a folder without it learnt window by window); predicting is alike
        found["loss"] = loss
    return {KEY: found}


def cut_of(windowing: dict[str, Any]) -> dict[str, Any]:
    """encode_windows' ``cut`` and ``head_share`` keywords as a windowing records them (a folder written before
    cuts existed holds windows)."""
    cut, share = windowing.get("cut", "windows"), windowing.get("head_share", HEAD_SHARE)
    if cut not in CUTS or isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise RatchetError(
            f"the model's windowing (cut {cut!r}, head_share {share!r}) is not one this ratchet reads: cuts are "
            f"{', '.join(CUTS)} with a head_share from 0 to 1; upgrade ratchet"
        )
    return {"cut": str(cut), "head_share": float(share)}


def loss_of(windowing: dict[str, Any]) -> str:
    """How the model's fine-tune learnt from its windows (chunk.loss), for a refit that repeats it (a folder
    written before the loss was recorded learnt window by window)."""
    from ratchet.chunking.params import LOSSES

    loss = windowing.get("loss", "window")
    if loss not in LOSSES:
        raise RatchetError(f"the model's windowing has loss {loss!r}, not one of {', '.join(LOSSES)}: upgrade ratchet")
    return str(loss)


def predict_windowed(
    model: Any, tokenizer: Any, texts: list[str], pairs: list[str] | None, windowing: dict[str, Any], *, device: str
) -> np.ndarray:
    """(len(texts), n_labels) probabilities: each text's windows predicted, then pooled per text."""
    from ratchet.chunking.aggregate import aggregate
    from ratchet.chunking.windows import encode_windows
    from ratchet.training.inference import predict_probs

    pad_id = tokenizer.pad_token_id or 0
    cut = cut_of(windowing)
    out = []
    for start in range(0, len(texts), DOCS_PER_PASS):
        stop = start + DOCS_PER_PASS
        windows = encode_windows(tokenizer, texts[start:stop], None if pairs is None else pairs[start:stop],
                                 int(windowing["window"]), int(windowing["stride"]), **cut)  # fmt: skip
        probs = predict_probs(model, windows.encoded, device=device, pad_id=pad_id)
        out.append(aggregate(probs, windows.doc, windows.n_docs, str(windowing["aggregation"]), windows.content))
    if not out:
        return np.zeros((0, int(model.config.num_labels)), dtype=np.float32)
    return np.concatenate(out)
