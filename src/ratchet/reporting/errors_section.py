"""Report sections about individual rows and steps: the error analysis and the per-step details.

Texts here come straight from the user's data: they are shown shortened (with an ellipsis and
the full text on hover) and always escaped by ``ratchet.reporting.html``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ratchet.reporting.data_tables import TEXT_CHARS
from ratchet.reporting.html import Safe, key_values, note, num, plain, section, shortened, table, tag
from ratchet.reporting.rundata import RunFiles, label_issues, validation_predictions

MAX_ROWS = 20


def errors_section(run: RunFiles) -> Safe | None:
    parts: list[Any] = []
    loaded = validation_predictions(run)
    if loaded is not None:
        frame, source = loaded
        labels = run.labels
        wrong = frame[frame["label_id"] != frame["pred_id"]].sort_values("confidence", ascending=False)
        accuracy = float(np.mean(frame["label_id"] == frame["pred_id"])) if len(frame) else 0.0
        parts.append(tag("h3", "Most confident mistakes on validation"))
        parts.append(
            note(
                f"Predictions of {source} on {len(frame):,} validation rows: {len(wrong):,} mistakes "
                f"(accuracy {accuracy:.4f}). The most confident mistakes are often label errors."
            )
        )
        rows = [
            [
                num(r.confidence, 3),
                labels[int(r.label_id)],
                labels[int(r.pred_id)],
                num(r.p_true, 3),
                shortened(r.text, TEXT_CHARS, class_="text"),
            ]
            for r in wrong.head(MAX_ROWS).itertuples()
        ]
        if rows:
            headers = ["confidence", "label", "predicted", "P(label)", "text"]
            parts.append(table(headers, rows, numeric=[0, 3], id="confident-mistakes", class_="texts"))
    issues = label_issues(run)
    if issues is not None and len(issues):
        parts.append(tag("h3", "Label issues flagged in training data"))
        columns = _issue_columns(list(issues.columns))
        parts.append(
            note(f"{len(issues):,} rows flagged (data/label_issues.csv); the first {min(len(issues), MAX_ROWS)}:")
        )
        rows = [
            [
                shortened(v, TEXT_CHARS, class_="text") if c in _TEXT_COLS else plain(_scalar(v))
                for c, v in zip(columns, r, strict=True)
            ]
            for r in issues[columns].head(MAX_ROWS).itertuples(index=False)
        ]
        parts.append(table(columns, rows, id="label-issues", class_="texts"))
    if not parts:
        return None
    return section(
        "errors", "Error analysis", *parts, intro="Texts are shown as plain text, shortened: hover one to read it all."
    )


_TEXT_COLS = ("text", "text_pair", "review", "content", "sentence")
_PREFERRED = ("given_label", "label", "suggested_label", "predicted_label", "label_quality", "quality", "score")


def _issue_columns(columns: list[str]) -> list[str]:
    """The informative columns of label_issues.csv first, text last; at most 7."""
    chosen = [c for c in _PREFERRED if c in columns]
    chosen += [c for c in columns if c not in chosen and c not in _TEXT_COLS and c != "accept"]
    chosen = chosen[:6]
    text = [c for c in _TEXT_COLS if c in columns][:1]
    return chosen + text


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN from an empty CSV cell
        return ""
    return value


SHOWN_ELSEWHERE = {"history", "telemetry", "train_params", "trials", "importances", "param_importances"}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def steps_section(run: RunFiles) -> Safe | None:
    """Every step's own scalar metrics, collapsed: the details behind the ledger."""
    blocks = []
    for folder, manifest in run.manifests:
        if manifest.get("step") == "report":
            continue  # the report describes itself while it is still running
        metrics = manifest.get("metrics") or {}
        flat: list[tuple[str, Any]] = [("status", manifest.get("status")), ("seconds", num(manifest.get("seconds"), 1))]
        for key, value in metrics.items():
            if key in SHOWN_ELSEWHERE:
                continue
            if _is_scalar(value):
                flat.append((key, value))
            elif isinstance(value, dict):
                flat += [(f"{key}.{k}", v) for k, v in value.items() if _is_scalar(v)]
        if manifest.get("error"):
            flat.append(("error", manifest["error"]))
        blocks.append(
            tag("details", tag("summary", folder.name, " ", tag("small", manifest.get("status", ""))), key_values(flat))
        )
    if not blocks:
        return None
    return section("steps", "Step details", *blocks, intro="Each step's manifest metrics (RUN/steps/NN-name/).")
