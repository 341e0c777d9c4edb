"""Report section for calibrate and decide: the temperature, the class biases, and what each changed.

Both are fitted on the judged rows of the model that would ship and judged on folds they were
not fitted on; this section shows the fitted values and the before/after figures from the
steps' manifests, beside the rule's decision from the ledger.
"""

from __future__ import annotations

from typing import Any

from ratchet.reporting.html import Safe, key_values, num, section, table, tag
from ratchet.reporting.rundata import RunFiles


def decision_section(run: RunFiles) -> Safe | None:
    ledger = {entry.get("step"): entry for entry in run.ledger}
    parts: list[Any] = []
    for _, manifest in run.steps_named("calibrate"):
        metrics, entry = manifest.get("metrics") or {}, ledger.get("calibrate") or {}
        parts.append(tag("h3", "Calibration (temperature)"))
        parts.append(
            key_values(
                [
                    ("decision", entry.get("status")),
                    ("temperature (prob_ = softmax(log p / T))", num(metrics.get("temperature"), 3)),
                    ("expected calibration error before", num(metrics.get("ece_before"))),
                    ("expected calibration error after", num(metrics.get("ece_after"))),
                    ("log loss before", num(metrics.get("log_loss_before"))),
                    ("log loss after", num(metrics.get("log_loss_after"))),
                    ("judged on", metrics.get("judged_on")),
                    ("reason", entry.get("reason") or entry.get("note")),
                ],
                id="calibrate-figures",
            )
        )
    for _, manifest in run.steps_named("decide"):
        metrics, entry = manifest.get("metrics") or {}, ledger.get("decide") or {}
        parts.append(tag("h3", "Decisions (class biases)"))
        bias = metrics.get("bias") or {}
        before, after = metrics.get("predicted_share_before") or {}, metrics.get("predicted_share_after") or {}
        rows = [
            [label, num(value, 2, signed=True), _share(before.get(label)), _share(after.get(label))]
            for label, value in bias.items()
        ]
        headers = ["class", "bias (log-probability)", "predicted share before", "after"]
        parts.append(table(headers, rows, numeric=[1, 2, 3], id="decide-biases"))
        why = entry.get("reason") or entry.get("note") or ""
        parts.append(tag("p", f"Decision: {entry.get('status')}. {why}", class_="note"))
    if not parts:
        return None
    return section(
        "decisions",
        "Calibration and decisions",
        *parts,
        intro="prob_ columns are divided by one temperature so that they mean what they say; the predicted label "
        "adds per-class biases to the log-probabilities, tuned to the gate metric. Both are fitted on the judged "
        "rows and judged on folds they were not fitted on; predict and evaluate apply what was kept.",
    )


def _share(value: Any) -> str:
    return "" if value is None else f"{100 * float(value):.1f}%"
