"""End-of-run tables: the ledger and the sealed-test metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from ratchet.reporting.rundata import own_gate_metric

if TYPE_CHECKING:
    from ratchet.pipeline import RunResult


TUNED_MARK = "*"
TUNED_CAPTION = "* at per-label thresholds cross-tuned on the judged rows, until decide settles the shipped ones"


def ledger_table(ledger: list[dict]) -> Table:
    caption = TUNED_CAPTION if any(_tuned(entry) for entry in ledger) else None
    table = Table(title="ledger (validation)", title_justify="left", caption=caption, caption_justify="left")
    # Accuracy beside the gate metric where the ledger records it (single labels judged by another metric).
    accuracy = any(isinstance(entry.get("accuracy"), dict) for entry in ledger)
    columns = ("step", "status", "metric", "after", "gain", "95% CI", *(("accuracy",) if accuracy else ()), "seconds")
    for column in columns:
        table.add_column(column, justify="left" if column in ("step", "status", "metric") else "right")
    for entry in ledger:
        ci = entry.get("ci")
        side = entry.get("accuracy") if isinstance(entry.get("accuracy"), dict) else {}
        table.add_row(
            entry["step"],
            entry["status"],
            _metric_cell(entry),
            _num(entry.get("after")),
            _num(entry.get("gain"), signed=True),
            f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "",
            *((_num(side.get("after")),) if accuracy else ()),
            f"{entry.get('seconds', 0):.1f}",
        )
    return table


def _tuned(entry: dict) -> bool:
    """Label sets scored at cross-tuned thresholds (until decide settles the shipped ones)."""
    return (entry.get("thresholds") or {}).get("after") == "cross-tuned"


def _metric_cell(entry: dict) -> str:
    """The ledger metric; a step judged on its own metric says its gain is in that one; a score at cross-tuned
    thresholds is starred (the caption says what the star means)."""
    metric, own = entry.get("metric", ""), own_gate_metric(entry)
    metric += TUNED_MARK if _tuned(entry) else ""
    return metric if own is None else f"{metric} (gain: {own})"


def metrics_table(metrics: dict) -> Table:
    from ratchet.evaluation.metrics import format_table

    table = Table(title=f"sealed test ({metrics.get('n', '?')} rows)", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in format_table(metrics):
        table.add_row(name, value)
    return table


def print_run_summary(result: RunResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(ledger_table(result.ledger))
    if "test" in result.metrics:
        console.print(metrics_table(result.metrics["test"]))
    console.print(f"run folder: {result.run_dir}  (model: {result.run_dir / 'model'})")


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.4f}" if signed else f"{value:.4f}"
