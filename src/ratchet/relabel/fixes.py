"""Reviewed label corrections: a person edits ``label_issues.csv`` and feeds it back with ``--label-fixes``.

The file is the one the relabel step writes (text, given_label, suggested_label, ...)
with its ``accept`` column filled in per row:

- ``yes`` (y, true, 1, x, accept, relabel): the row gets ``suggested_label`` (edit that
  cell to give another label);
- ``no`` (n, false, 0, keep, reject): the given label is right; the row is marked as
  reviewed, so the automatic relabel step leaves it alone;
- ``drop`` (remove, delete): the row leaves the training set;
- empty: not reviewed, nothing happens.

Rows are matched by their normalized-text fingerprint and only when their current label
is still ``given_label``: a stale file (data changed since) cannot flip a label by accident.
Only training rows are touched: validation labels are never altered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ratchet.data.split import frame_fingerprints, text_fingerprint
from ratchet.errors import RatchetError

ACCEPT = frozenset({"y", "yes", "true", "1", "x", "accept", "accepted", "relabel", "fix"})
REJECT = frozenset({"n", "no", "false", "0", "keep", "reject", "rejected"})
DROP = frozenset({"drop", "remove", "delete"})
REQUIRED = ("text", "given_label", "suggested_label", "accept")

Action = Literal["relabel", "keep", "drop"]


@dataclass(frozen=True)
class LabelFix:
    fingerprint: str
    given: str
    action: Action
    label: str | None = None
    """The new label (``relabel`` only)."""


def read_label_fixes(path: str | Path, labels: list[Any]) -> list[LabelFix]:
    """Parse a reviewed label_issues.csv; rows with an empty accept cell are skipped."""
    from ratchet.data.io import read_table
    from ratchet.data.output import restore_frame

    path = Path(path)
    if not path.is_file():
        raise RatchetError(f"label fixes file {path} does not exist: check the --label-fixes path")
    frame = restore_frame(read_table(path))  # undo the CSV formula guard, so texts match their fingerprints
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise RatchetError(
            f"label fixes file {path} lacks column(s) {', '.join(missing)}: use the label_issues.csv of a run "
            "with its accept column filled in"
        )
    frame = frame.fillna("").astype(str)
    known = {str(label) for label in labels}
    fixes: list[LabelFix] = []
    for number, row in enumerate(frame.itertuples(index=False), start=2):  # line 1 is the header
        values = row._asdict()
        decision = values["accept"].strip().casefold()
        if not decision:
            continue
        pair = values.get("text_pair") if "text_pair" in frame.columns else None
        fingerprint = text_fingerprint(values["text"], pair)
        given = values["given_label"].strip()
        if decision in ACCEPT:
            label = values["suggested_label"].strip()
            if label not in known:
                raise RatchetError(
                    f"label fixes file {path} line {number}: suggested_label {label!r} is not a known label "
                    f"({', '.join(sorted(known))}): correct that cell"
                )
            fixes.append(LabelFix(fingerprint, given, "relabel", label))
        elif decision in REJECT:
            fixes.append(LabelFix(fingerprint, given, "keep"))
        elif decision in DROP:
            fixes.append(LabelFix(fingerprint, given, "drop"))
        else:
            raise RatchetError(
                f"label fixes file {path} line {number}: accept value {values['accept']!r} is not understood: "
                "write yes, no or drop (or leave it empty)"
            )
    return fixes


def apply_label_fixes(train: pd.DataFrame, fixes: list[LabelFix]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Relabel or drop matching training rows; returns the new frame and what happened, counted.

    Only the ``label`` column changes here; ``label_id`` is (re)derived by the caller.
    """
    counts = {"relabeled": 0, "dropped": 0, "confirmed": 0, "stale": 0, "not_in_train": 0}
    if not fixes:
        return train, counts
    fingerprints = frame_fingerprints(train)
    rows: dict[str, list[int]] = {}
    for position, fingerprint in enumerate(fingerprints):
        rows.setdefault(fingerprint, []).append(position)
    labels = train["label"].astype(str).tolist()
    new_labels = list(train["label"])
    keep = [True] * len(train)
    for fix in fixes:
        matched = rows.get(fix.fingerprint, [])
        if not matched:
            counts["not_in_train"] += 1
            continue
        current = [i for i in matched if labels[i] == fix.given]
        if not current:
            counts["stale"] += 1
            continue
        for i in current:
            if fix.action == "relabel":
                new_labels[i] = _typed_like(train["label"].iloc[i], fix.label)
            elif fix.action == "drop":
                keep[i] = False
        counts[{"relabel": "relabeled", "drop": "dropped", "keep": "confirmed"}[fix.action]] += 1
    fixed = train.assign(label=pd.Series(new_labels, index=train.index, dtype=train["label"].dtype))
    return fixed[keep].reset_index(drop=True), counts


def reviewed_fingerprints(fixes: list[LabelFix]) -> set[str]:
    """Texts a person has decided on: automatic relabeling must not override them."""
    return {fix.fingerprint for fix in fixes}


def _typed_like(example: Any, label: str | None) -> Any:
    """The new label in the column's own type (labels are compared as strings everywhere)."""
    if label is None:
        return example
    return label if isinstance(example, str) else type(example)(label)
