"""A ledger entry's parts that are formatting, not judging: the rule's comparison as fields, the one-line log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ratchet.evaluation.significance import GateDecision

LEDGER_METRICS = ("seed_spread", "ensemble", "crossfit", "shipped", "compress", "chunk", "picked")
"""Step metrics copied into the ledger entry (the rest stay in the step's manifest)."""


def decision_fields(decision: GateDecision) -> dict[str, Any]:
    """The rule's own comparison for the ledger: reference -> candidate (which may be a step's gate learner, e.g.
    relabel's), with its gain and evidence; the entry's before/after stay the shipped model's scores."""
    fields = {
        "reference": decision.before, "candidate": decision.after, "gain": decision.gain,
        "ci": [decision.ci_low, decision.ci_high], "p_better": decision.p_better, "reason": decision.reason,
        "rows": decision.n, "folds": decision.folds,
    }  # fmt: skip
    if decision.margin is not None:
        fields.update(margin=decision.margin, p_within=decision.p_within)
    if decision.t_stat is not None:
        fields.update(t_stat=decision.t_stat, t_p_value=decision.t_p_value, fold_gains=decision.fold_gains)
    return fields


def side_metric(multilabel: bool, gate_metric: str) -> str | None:
    """The metric recorded beside the gate's for every step: accuracy, where the gate judges something else on
    single labels. A step the rule keeps for macro-F1 may cost accuracy (on the drug reviews one shipped model
    change moved macro-F1 +0.005 and accuracy -0.037); the ledger shows both. None: label sets (their report has
    per-label tables), or a gate that judges accuracy already."""
    return None if multilabel or gate_metric == "accuracy" else "accuracy"


def side_fields(before: float | None, after: float | None, candidate: float | None) -> dict[str, float]:
    """The side metric of the model before the step, after it, and of the step's candidate (kept or not)."""
    values = {"before": before, "after": after, "candidate": candidate}
    return {name: value for name, value in values.items() if value is not None}


def ledger_line(entry: dict[str, Any]) -> str:
    parts = [f"{entry['step']}: {entry['status']}"]
    if entry.get("after") is not None:
        parts.append(f"valid {entry['metric']} {entry['after']:.4f}")
    if entry.get("gain") is not None and entry.get("before") is not None:
        parts.append(f"gain {entry['gain']:+.4f}")
    if entry.get("ci"):
        parts.append(f"95% CI [{entry['ci'][0]:+.4f}, {entry['ci'][1]:+.4f}]")
    parts.append(f"{entry['seconds']:.1f}s")
    return "  ".join(parts)
