"""Report section for the ledger: every step's validation score before and after, its gain and decision."""

from __future__ import annotations

from typing import Any

from ratchet.reporting.charts import waterfall
from ratchet.reporting.html import Safe, interval, join, num, section, table, tag
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
                _accuracy_cell(entry),
                interval(entry.get("ci"), signed=True),
                num(p_better, 3),
                _fold_test(entry, _run_folds(run)),
                num(entry.get("seconds"), 1),
                _decision_cell(entry),
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
        "accuracy",
        "95% CI of gain",
        "P(better)",
        "fold test p",
        "seconds",
        "decision",
    ]
    shipped = [
        tag("li", tag("b", entry.get("step", "?")), f": {entry['shipped']}")
        for entry in run.ledger
        if entry.get("shipped") and entry.get("status") in ("kept", "completed")
    ]
    ledger_table = table(headers, rows, numeric=[2, 3, 4, 5, 6, 7, 8, 9, 10], id="ledger-table", class_="ledger")
    return section(
        "ledger",
        "Ledger: what each step bought",
        waterfall(run.ledger, metric),
        tag("div", ledger_table, class_="scroll"),
        tag("p", "Which estimate belongs to which model:", class_="note") if shipped else None,
        tag("ul", *shipped, id="ledger-shipped") if shipped else None,
        intro=f"{judging_sentence(run, metric)}{thresholds_sentence(run)} A gated step is kept only when the "
        f"paired bootstrap says it helps.{accuracy_sentence(run, metric)} {summary}",
    )


def judging_sentence(run: RunFiles, metric: str) -> str:
    """How candidates were judged: out-of-fold over the pool, or the validation split."""
    judging = run.data_report.get("judging") if isinstance(run.data_report, dict) else None
    if not isinstance(judging, dict) or judging.get("mode") != "crossfit":
        return f"Validation {metric} before and after every step."
    return (
        f"{metric} before and after every step, judged out of fold: every one of the {judging.get('judged_rows')} "
        f"train+valid rows is predicted by the fit of its fold that never saw it ({judging.get('folds')} folds; "
        f"{judging.get('reason')}); the fold test is Nadeau and Bengio's corrected t-test of the fold gains."
    )


def accuracy_sentence(run: RunFiles, metric: str) -> str:
    """What the accuracy column is (empty where no entry has one)."""
    if not any(isinstance(entry.get("accuracy"), dict) for entry in run.ledger):
        return ""
    return (
        f" The accuracy column reads the same judged rows as {metric}, on the same models; the rule looks at "
        f"{metric} only, so a kept step may cost accuracy."
    )


def thresholds_sentence(run: RunFiles) -> str:
    """Label sets: how before, after and the rule's comparison were decided (empty for other runs)."""
    if not any(entry.get("thresholds") for entry in run.ledger):
        return ""
    return (
        " Label sets are decided per label at a threshold: until the decide step settles the thresholds that "
        "ship, every model (the reference and the candidate alike) is scored at per-label thresholds cross-tuned "
        "on the judged rows (each fold decided with thresholds fitted on the other folds), as decide would ship "
        "it; decide itself compares its thresholds with 0.5, and from then on models are scored as they ship."
    )


def _run_folds(run: RunFiles) -> Any:
    judging = run.data_report.get("judging") if isinstance(run.data_report, dict) else None
    return judging.get("folds") if isinstance(judging, dict) else None


def _fold_test(entry: dict[str, Any], run_folds: Any) -> str:
    """The corrected t-test's p-value; the fold count only where it differs from the run's (a budget cut)."""
    p_value = entry.get("t_p_value")
    if p_value is None:
        return ""
    folds = entry.get("folds")
    return f"{p_value:.3f}" + ("" if folds == run_folds else f" ({folds} folds)")


def _decision_cell(entry: dict[str, Any]) -> Safe:
    """Why the rule decided so, without repeating the gain, interval and P(better) columns (full text on hover)."""
    text = str(entry.get("reason") or entry.get("note") or entry.get("picked") or "")  # picked: select's choice
    verdict, _, rest = text.partition(": ")
    short = text
    if verdict in ("kept", "rejected") and entry.get("gain") is not None:
        short = rest.split("; ")[0] if "; " in rest else ""
    return tag("span", short, class_="reason", title=text if short != text else None)


def _accuracy_cell(entry: dict[str, Any]) -> str:
    """Accuracy beside the gate metric (single-label runs judged by another metric): "before -> after" where the
    step moved the shipped model, and a candidate's own where the rule rejected it."""
    side = entry.get("accuracy")
    if not isinstance(side, dict):
        return ""
    before, after, candidate = side.get("before"), side.get("after"), side.get("candidate")
    if before is not None and entry.get("status") == "rejected" and candidate is not None:
        return f"{num(before)} (candidate {num(candidate)})"
    if before is not None and after is not None and abs(after - before) > 1e-12:
        return f"{num(before)} -> {num(after)}"
    return num(after)


def _candidate_cell(entry: dict[str, Any]) -> Safe | str:
    """A rejected candidate's score; "reference -> candidate" when the rule compared its own reference.

    A step judged on its own metric (relabel: log loss) always shows its comparison, named.
    """
    own = own_gate_metric(entry)
    if own is not None and entry.get("reference") is not None:
        return join([f"{own}:", tag("br"), f"{num(entry.get('reference'))} -> {num(entry.get('candidate'))}"])
    if entry.get("status") != "rejected":
        return ""
    reference, before = entry.get("reference"), entry.get("before")
    if isinstance(reference, (int, float)) and (before is None or abs(reference - before) > 1e-9):
        return f"{num(reference)} -> {num(entry.get('candidate'))}"
    return num(entry.get("candidate"))
