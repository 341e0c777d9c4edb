"""ratchet: adapt pretrained language models to text classification, one measured step at a time."""

from ratchet.config import RunConfig
from ratchet.errors import RatchetError

__all__ = ["Pipeline", "RatchetError", "RunConfig", "RunResult"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Pipeline pulls in torch; import it lazily so `ratchet --help` and config use stay fast.
    if name in ("Pipeline", "RunResult"):
        from ratchet import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
