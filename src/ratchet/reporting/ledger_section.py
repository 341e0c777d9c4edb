"""Report section for the ledger: every step's validation score before and after, its gain and decision."""

from __future__ import annotations

from typing import Any

from ratchet.reporting.charts import waterfall
from ratchet.reporting.html import Safe, interval, num, section, table, tag
from ratchet.reporting.rundata import RunFiles, own_gate_metric

STATUS_CLASS = {"kept": "good", "completed": "neutral", "rejected": "bad", "skipped": "muted", "failed": "bad"}


def badge(status: str) -> Safe:
    return tag("span", status, class_=f"badge {STATUS_CLASS.get(status, 'muted')}")


def ledger_section(run: RunFiles) -> Safe | None:
    if not run.ledger:
        return None
    metric = run.metric_label
    rows = []
    for entry in run.ledger:
        p_better = entry.get("p_better")
        rows.append(
            [
                tag("span", entry.get("step", "?"), class_="step"),
                badge(str(entry.get("status", "?"))),
                num(entry.get("before")),
                num(entry.get("after")),
                _candidate_cell(entry),
                num(entry.get("gain"), signed=True),
                interval(entry.get("ci"), signed=True),
                num(p_better, 3),
                num(entry.get("seconds"), 1),
                tag("span", entry.get("reason") or entry.get("note") or "", class_="reason"),
            ]
        )
    total = sum(float(e.get("seconds") or 0) for e in run.ledger)
    counts = {s: sum(1 for e in run.ledger if e.get("status") == s) for s in ("kept", "rejected", "skipped")}
    summary = (
        f"{len(run.ledger)} steps in {total:,.1f} s; gated steps: {counts['kept']} kept, "
        f"{counts['rejected']} rejected; {counts['skipped']} skipped."
    )
    headers = [
        "step",
        "status",
        "before",
        "after",
        "candidate",
        "gain",
        "95% CI of gain",
        "P(better)",
        "seconds",
        "decision",
    ]
    return section(
        "ledger",
        "Ledger: what each step bought",
        waterfall(run.ledger, metric),
        table(headers, rows, numeric=[2, 3, 4, 5, 6, 7, 8], id="ledger-table", class_="ledger"),
        intro=f"Validation {metric} before and after every step. A gated step is kept only when the paired "
        f"bootstrap says it helps. {summary}",
    )


def _candidate_cell(entry: dict[str, Any]) -> str:
    """A rejected candidate's score; "reference -> candidate" when the rule compared its own reference.

    A step judged on its own metric (relabel: log loss) always shows its comparison, named.
    """
    own = own_gate_metric(entry)
    if own is not None and entry.get("reference") is not None:
        return f"{own}: {num(entry.get('reference'))} -> {num(entry.get('candidate'))}"
    if entry.get("status") != "rejected":
        return ""
    reference, before = entry.get("reference"), entry.get("before")
    if isinstance(reference, (int, float)) and (before is None or abs(reference - before) > 1e-9):
        return f"{num(reference)} -> {num(entry.get('candidate'))}"
    return num(entry.get("candidate"))
