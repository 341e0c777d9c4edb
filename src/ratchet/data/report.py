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

from ratchet.chunking.params import ChunkParams
from ratchet.config import DEFAULT_MODEL, CleanParams, DataParams, TrainParams
from ratchet.data.clean import clean_frame
from ratchet.data.columns import ResolvedColumns, resolve_columns, standardize
from ratchet.data.coverage import model_view
from ratchet.data.io import read_table
from ratchet.data.label_checks import label_set_report, validate_labels
from ratchet.data.label_checks import summary_lines as multilabel_summary
from ratchet.data.multilabel import MULTILABEL, TASK_KEY
from ratchet.data.near_duplicates import NUM_PERM, NearDuplicates, near_duplicates, sign
from ratchet.errors import RatchetError

REPORT_VERSION = 1
NEAR_DUPLICATE_EXAMPLES = 5


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
    if "multilabel" in report:
        lines.extend(multilabel_summary(report["multilabel"]))
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
    near = report.get("near_duplicates")
    if isinstance(near, dict) and "groups" in near:
        lines.append(
            f"near-duplicates (Jaccard >= {near['threshold']}): {near['groups']} groups, {near['rows']} rows "
            f"({near['conflicting_groups']} groups with conflicting labels)" + _near_test_note(near)
        )
    if "lengths" in report:
        words = report["lengths"]["words"]
        lines.append(f"length: median {words['median']:.0f} words, p95 {words['p95']:.0f}, max {words['max']}")
        tokens = report["lengths"].get("tokens")
        if isinstance(tokens, dict) and "median" in tokens:
            coverage = report.get("coverage", {})
            lines.append(
                f"tokens ({tokens['model']}): median {tokens['median']:.0f}, p95 {tokens['p95']:.0f}, "
                f"{tokens['truncated_share']:.1%} cut at max_length {tokens['max_length']}; unknown token: "
                f"{coverage.get('unk_share_words', 0):.1%} of words, {coverage.get('unk_share_chars', 0):.1%} of chars"
            )
            chunk = tokens.get("chunk")
            if isinstance(chunk, dict):
                runs = "passes" if chunk["runs"] else "does not pass"
                lines.append(
                    f"long texts: {tokens['truncated_share']:.1%} longer than max_length {tokens['max_length']} "
                    f"{runs} chunk.threshold {chunk['threshold']:g}: the chunk step "
                    + ("trains on overlapping windows, judged against truncation" if chunk["runs"] else "is skipped")
                )
    scripts = report.get("languages", {}).get("scripts")
    if scripts:
        total = sum(scripts.values()) or 1
        shown = ", ".join(f"{k} {v / total:.0%}" for k, v in list(scripts.items())[:5])
        langs = report["languages"].get("latin_languages") or {}
        guess = ", ".join(f"{k} {v}" for k, v in list(langs.items())[:4])
        lines.append(f"scripts: {shown}" + (f" (Latin-script rows by stop words: {guess})" if guess else ""))
    if "splits" in report:
        lines.append("splits: " + ", ".join(f"{k} {v}" for k, v in report["splits"].items()))
    removed = report.get("test_overlap_removed")
    if removed and any(removed.values()):
        lines.append("removed as copies of test texts: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    for warning in report.get("warnings", []):
        lines.append(f"warning: {warning}")
    return lines


def _near_test_note(near: dict[str, Any]) -> str:
    removed = near.get("removed_as_test_copies")
    if isinstance(removed, dict) and any(removed.values()):
        return "; removed as near-copies of test texts: " + ", ".join(f"{k} {v}" for k, v in removed.items())
    return ""


def near_duplicate_section(df: pd.DataFrame, found: NearDuplicates) -> dict[str, Any]:
    """Counts of near-duplicate groups in ``df`` plus a few example pairs (least similar first:
    near-copies that are not plain duplicates are the informative ones)."""
    groups = found.groups()
    labels = df["label"].astype(str).to_numpy() if "label" in df.columns else None
    conflicting = 0 if labels is None else sum(len(set(labels[g])) > 1 for g in groups)
    order = np.argsort(found.similarity, kind="stable")[:NEAR_DUPLICATE_EXAMPLES]
    examples = []
    for k in order:
        i, j = (int(v) for v in found.pairs[k])
        example = {"a": df["text"].iat[i], "b": df["text"].iat[j], "similarity": round(float(found.similarity[k]), 3)}
        if labels is not None:
            example["labels"] = f"{labels[i]} / {labels[j]}"
        examples.append(example)
    rows = int(sum(len(g) for g in groups))
    return {
        "threshold": found.threshold,
        "method": f"MinHash LSH ({NUM_PERM} permutations) over word sets, exact Jaccard check",
        "pairs": len(found.pairs),
        "groups": len(groups),
        "rows": rows,
        "redundant_rows": rows - len(groups),
        "largest_group": max((len(g) for g in groups), default=0),
        "conflicting_groups": int(conflicting),
        "examples": examples,
    }


def add_model_sections(
    report: dict[str, Any], df: pd.DataFrame, *, model: str, max_length: int, chunk_threshold: float | None = None
) -> list[str]:
    """Token lengths (into ``lengths.tokens``), ``coverage`` and ``languages``; returns warnings.

    ``chunk_threshold`` (chunk.threshold): the token section says whether the share of texts longer than
    max_length passes it, i.e. whether a preset's chunk step will train on windows."""
    pairs = df["text_pair"].tolist() if "text_pair" in df.columns else None
    tokens, coverage, languages, warnings = model_view(df["text"].tolist(), pairs, model=model, max_length=max_length)
    if "truncated_share" in tokens:
        threshold = ChunkParams.threshold if chunk_threshold is None else chunk_threshold
        tokens["chunk"] = {"threshold": threshold, "runs": bool(tokens["truncated_share"] > threshold)}
    report.setdefault("lengths", {})["tokens"] = tokens
    report["coverage"] = coverage
    report["languages"] = languages
    return warnings


def inspect_data(
    path: str | Path,
    params: DataParams,
    clean: CleanParams,
    *,
    model: str = DEFAULT_MODEL,
    max_length: int = TrainParams.max_length,
    chunk_threshold: float | None = None,
) -> dict[str, Any]:
    """Read, resolve, clean and report on a labeled file - no training (``ratchet inspect DATA``)."""
    raw = read_table(path)
    columns = resolve_columns(raw, params)
    cleaned, clean_report = clean_frame(standardize(raw, columns), clean)
    report = build_data_report(clean_report, columns=columns, lengths=length_stats(cleaned))
    report["source"] = {"path": str(path), "columns": [str(c) for c in raw.columns]}
    if cleaned.empty:  # nothing left to describe: the same one-line error as `run` gives
        validate_labels(cleaned, columns.multilabel)
    # Class problems would stop a run; inspect lists them instead, so the whole report is still seen.
    warnings = []
    try:
        validate_labels(cleaned, columns.multilabel)
    except RatchetError as exc:
        warnings.append(str(exc))
    if columns.multilabel:
        report[TASK_KEY] = MULTILABEL
        report["multilabel"] = label_set_report(cleaned["label"])
    if clean.near_duplicates:
        pairs = cleaned["text_pair"].tolist() if "text_pair" in cleaned.columns else None
        found = near_duplicates(sign(cleaned["text"].tolist(), pairs), clean.near_duplicate_threshold)
        report["near_duplicates"] = near_duplicate_section(cleaned, found)
    else:
        report["near_duplicates"] = {"skipped": "clean.near_duplicates is off"}
    warnings += add_model_sections(report, cleaned, model=model, max_length=max_length, chunk_threshold=chunk_threshold)
    report["warnings"] = warnings
    return report
