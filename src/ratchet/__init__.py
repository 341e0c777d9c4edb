"""ratchet: adapt pretrained language models to text classification, one measured step at a time."""

import os

from ratchet.config import RunConfig
from ratchet.errors import RatchetError

# oneDNN (CPU bf16 kernels) keeps up to 1024 compiled kernels, one per batch shape, and
# length-bucketed batches come in dozens of shapes: on 300 drug reviews that cache held ~500 MB
# (peak RSS 2.80-2.88 GB -> 2.27-2.37 GB at 32, same tokens/s). It is read lazily, at the first
# bf16 kernel, so setting it here works even after torch is imported; a user's own value wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32")

__all__ = ["Pipeline", "Predictor", "RatchetError", "RunConfig", "RunResult", "TextClassifier", "load"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Pipeline pulls in torch; import it lazily so `ratchet --help` and config use stay fast.
    if name in ("Pipeline", "RunResult"):
        from ratchet import pipeline

        return getattr(pipeline, name)
    if name in ("load", "Predictor", "TextClassifier"):
        from ratchet import api

        return getattr(api, name)
    raise AttributeError(name)
