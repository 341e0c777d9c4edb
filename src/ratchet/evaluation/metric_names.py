"""The metric names the ratchet gate accepts: importable without numpy or scipy (config validation uses it)."""

from __future__ import annotations

from ratchet.errors import RatchetError

CONFUSION_METRICS = ("macro_f1", "accuracy", "weighted_f1")
"""Metrics computable from a confusion matrix (so from hard predictions alone)."""
METRICS = (*CONFUSION_METRICS, "neg_log_loss")
"""Names accepted by :func:`score` and the ratchet gate; all are 'higher is better'."""
MULTILABEL_ONLY = ("micro_f1", "samples_f1", "subset_accuracy", "neg_hamming_loss")
"""Names only multi-label runs judge with (gate.multilabel_metric); macro_f1 serves both kinds of run."""
_ALIASES = {"log_loss": "neg_log_loss", "hamming_loss": "neg_hamming_loss"}  # users write the loss; we negate it


def check_metric(name: str) -> str:
    """Return the canonical metric name, or raise a one-line RatchetError naming the fix."""
    name = _ALIASES.get(name, name)
    if name not in METRICS and name not in MULTILABEL_ONLY:
        raise RatchetError(f"unknown metric {name!r}: use one of {', '.join(METRICS)}")
    return name


def check_multilabel_metric(name: str) -> str:
    """A gate metric for multi-label runs: micro/macro/samples F1, subset accuracy, Hamming or log loss."""
    name = _ALIASES.get(name, name)
    allowed = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "neg_hamming_loss", "neg_log_loss")
    if name not in allowed:
        raise RatchetError(f"unknown multi-label metric {name!r}: use one of {', '.join(allowed)}")
    return name
