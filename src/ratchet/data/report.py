"""The data report: what was read, what cleaning changed, how the data was split.

One dict with a section per concern (``rows``, ``duplicates``, ``conflicts``,
``classes``, ``lengths``, ...), so later analyses add a key without touching
the others. ``summarize`` turns it into a few lines for the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ratchet.config import CleanParams, DataParams
from ratchet.data.clean import clean_frame, validate_classes
from ratchet.data.columns import ResolvedColumns, resolve_columns, standardize
from ratchet.data.io import read_table
from ratchet.errors import RatchetError

REPORT_VERSION = 1


def length_stats(df: pd.DataFrame) -> dict[str, Any]:
    """Characters and words per text: min/mean/median/p95/max (and the same for the pair, if any)."""
    stats = {"chars": _describe([len(t) for t in df["text"]]), "words": _describe([len(t.split()) for t in df["text"]])}
    if "text_pair" in df.columns:
        stats["pair_chars"] = _describe([len(t) for t in df["text_pair"]])
        stats["pair_words"] = _describe([len(t.split()) for t in df["text_pair"]])
    return stats


def _describe(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0}
    array = np.asarray(values)
    return {
        "min": int(array.min()),
        "mean": round(float(array.mean()), 1),
        "median": float(np.median(array)),
        "p95": float(np.percentile(array, 95)),
        "max": int(array.max()),
    }


def build_data_report(
    clean_report: dict[str, Any],
    splits: dict[str, int] | None = None,
    leakage: dict[str, int] | None = None,
    columns: ResolvedColumns | None = None,
    *,
    lengths: dict[str, Any] | None = None,
    test: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Arrange the raw counts of ``clean_frame`` (and the split's) into the report sections."""
    c = clean_report
    classes = c.get("classes", {})
    sizes = list(classes.values())
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "rows": {
            "in": c["rows_in"],
            "out": c["rows_out"],
            "missing_label_dropped": c.get("missing_label_dropped", 0),
            "empty_dropped": c.get("empty_dropped", 0),
        },
        "repairs": {
            key: c.get(key, 0)
            for key in ("quotes_stripped", "html_unescaped", "repaired_unicode", "whitespace_collapsed")
        },
        "duplicates": {"rows": c.get("duplicate_rows", 0), "merged": c.get("duplicates_merged", 0)},
        "conflicts": {
            "groups": c.get("conflict_groups", 0),
            "resolved": c.get("conflicts_resolved", 0),
            "dropped": c.get("conflicts_dropped", 0),
            "rows_removed": c.get("conflict_rows_removed", 0),
        },
        "classes": {
            "n": len(classes),
            "counts": classes,
            "imbalance": round(max(sizes) / min(sizes), 2) if sizes else None,
        },
    }
    if columns is not None:
        report["columns"] = {
            "text": columns.text,
            "text_pair": columns.text_pair,
            "label": columns.label,
            "detected": dict(columns.detected),
        }
    if lengths is not None:
        report["lengths"] = lengths
    if test is not None:
        report["test"] = test
    if splits is not None:
        report["splits"] = dict(splits)
    if leakage is not None:
        report["test_overlap_removed"] = dict(leakage)
    return report


def summarize(report: dict[str, Any]) -> list[str]:
    """A few human lines; sections missing from the report are left out."""
    lines = []
    rows, dup, conf = report["rows"], report["duplicates"], report["conflicts"]
    lines.append(
        f"rows: {rows['in']} read, {rows['out']} kept ({rows['missing_label_dropped']} without label, "
        f"{rows['empty_dropped']} empty, {dup['merged']} duplicates merged, "
        f"{conf['rows_removed']} removed by label conflicts)"
    )
    if "columns" in report:
        cols = report["columns"]
        parts = [f"text={cols['text']}"] + ([f"pair={cols['text_pair']}"] if cols["text_pair"] else [])
        parts.append(f"label={cols['label']}")
        auto = f" (auto: {', '.join(sorted(cols['detected']))})" if cols["detected"] else ""
        lines.append("columns: " + ", ".join(parts) + auto)
    classes = report["classes"]
    shown = ", ".join(f"{k} {v}" for k, v in list(classes["counts"].items())[:8])
    more = f", +{classes['n'] - 8} more" if classes["n"] > 8 else ""
    imbalance = f"; imbalance {classes['imbalance']}x" if classes["imbalance"] else ""
    lines.append(f"classes: {classes['n']} ({shown}{more}){imbalance}")
    fixes = {k: v for k, v in report["repairs"].items() if v}
    if fixes:
        lines.append("repairs: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in fixes.items()))
    if dup["rows"] or conf["groups"]:
        lines.append(
            f"duplicates: {dup['rows']} repeated rows; {conf['groups']} texts with conflicting labels "
            f"({conf['resolved']} resolved by majority, {conf['dropped']} ties dropped)"
        )
    if "lengths" in report:
        words = report["lengths"]["words"]
        lines.append(f"length: median {words['median']:.0f} words, p95 {words['p95']:.0f}, max {words['max']}")
    if "splits" in report:
        lines.append("splits: " + ", ".join(f"{k} {v}" for k, v in report["splits"].items()))
    removed = report.get("test_overlap_removed")
    if removed and any(removed.values()):
        lines.append("removed as copies of test texts: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    for warning in report.get("warnings", []):
        lines.append(f"warning: {warning}")
    return lines


def inspect_data(path: str | Path, params: DataParams, clean: CleanParams) -> dict[str, Any]:
    """Read, resolve, clean and report on a labeled file - no training (``ratchet inspect DATA``)."""
    raw = read_table(path)
    columns = resolve_columns(raw, params)
    cleaned, clean_report = clean_frame(standardize(raw, columns), clean)
    report = build_data_report(clean_report, columns=columns, lengths=length_stats(cleaned))
    report["source"] = {"path": str(path), "columns": [str(c) for c in raw.columns]}
    # Class problems would stop a run; inspect lists them instead, so the whole report is still seen.
    warnings = []
    try:
        validate_classes(cleaned)
    except RatchetError as exc:
        warnings.append(str(exc))
    report["warnings"] = warnings
    return report
