"""The metric names the ratchet gate accepts: importable without numpy or scipy (config validation uses it)."""

from __future__ import annotations

from ratchet.errors import RatchetError

CONFUSION_METRICS = ("macro_f1", "accuracy", "weighted_f1")
"""Metrics computable from a confusion matrix (so from hard predictions alone)."""
METRICS = (*CONFUSION_METRICS, "neg_log_loss")
"""Names accepted by :func:`score` and the ratchet gate; all are 'higher is better'."""
_ALIASES = {"log_loss": "neg_log_loss"}  # users write log_loss; we still return the negated value


def check_metric(name: str) -> str:
    """Return the canonical metric name, or raise a one-line RatchetError naming the fix."""
    name = _ALIASES.get(name, name)
    if name not in METRICS:
        raise RatchetError(f"unknown metric {name!r}: use one of {', '.join(METRICS)}")
    return name
