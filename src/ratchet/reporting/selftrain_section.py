"""Report section for the selftrain step: how many pseudo-labels, of which classes, teacher vs student, examples.

Everything comes from the step's manifest (``metrics`` as written by ``steps/selftrain.py``),
its ledger entry and ``pseudo_labels.parquet``, so a reader can judge the pseudo-labels the
student learned from, not only the decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ratchet.reporting.html import Safe, key_values, num, section, shortened, table, tag
from ratchet.reporting.rundata import RunFiles

EXAMPLES = 5
"""Pseudo-labeled texts shown at each end of the confidence range."""
TEXT_CHARS = 160


def selftrain_section(run: RunFiles) -> Safe | None:
    parts: list[Any] = []
    decisions = {entry.get("step"): entry for entry in run.ledger}
    for folder, manifest in run.steps_named("selftrain"):
        metrics = manifest.get("metrics") or {}
        decision = decisions.get("selftrain") or {}
        parts.append(tag("h3", folder.name))
        pseudo = metrics.get("pseudo_labels") or {}
        student = metrics.get("student") or {}
        facts = [
            ("decision", decision.get("status") or manifest.get("status")),
            ("reason", decision.get("reason") or decision.get("note")),
            ("unlabeled texts labeled by the teacher", pseudo.get("labeled_by_teacher")),
            ("at or above the confidence threshold", pseudo.get("above_threshold")),
            ("pseudo-labels the student learned from", pseudo.get("chosen")),
            ("mean teacher confidence of those", num(pseudo.get("mean_confidence_chosen"))),
            ("student rows (gold + pseudo)", student.get("rows")),
            ("validation score, teacher", num(decision.get("reference"))),
            ("validation score, student", num(decision.get("candidate"))),
            ("gain", num(decision.get("gain"), signed=True)),
            ("P(better)", num(decision.get("p_better"), 3)),
        ]
        parts.append(key_values([(k, v) for k, v in facts if v not in (None, "")], id="selftrain-decision",
                                caption="Self-training"))  # fmt: skip
        per_class = pseudo.get("per_class") or {}
        if per_class:
            rows = [[label, c.get("confident"), c.get("cap"), c.get("chosen")] for label, c in per_class.items()]
            parts.append(table(["class", "confident", "cap", "chosen"], rows, numeric=[1, 2, 3],
                               id="selftrain-classes", caption="Pseudo-labels by class"))  # fmt: skip
        examples = _examples(folder / "pseudo_labels.parquet")
        if examples is not None:
            parts.append(examples)
    if not parts:
        return None
    return section("selftrain", "Self-training", *parts)


def _examples(path: Path) -> Safe | None:
    """The most and the least confident pseudo-labels (text shortened), to check what the student was told."""
    if not path.is_file():
        return None
    import pandas as pd

    frame = pd.read_parquet(path).sort_values("confidence", ascending=False, kind="stable")
    if frame.empty:
        return None
    shown = frame if len(frame) <= 2 * EXAMPLES else pd.concat([frame.head(EXAMPLES), frame.tail(EXAMPLES)])
    rows = [
        [shortened(r.text, TEXT_CHARS, class_="text"), r.label, num(float(r.confidence), 3)] for r in shown.itertuples()
    ]
    caption = f"Most and least confident of {len(frame):,} pseudo-labels (pseudo_labels.parquet lists them all)"
    headers = ["text", "pseudo-label", "confidence"]
    return table(headers, rows, numeric=[2], id="selftrain-examples", class_="texts", caption=caption)
