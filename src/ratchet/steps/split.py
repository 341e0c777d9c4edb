"""Step ``split``: stratified train/valid (and test, when no test file was given), test copies removed.

This step never reads ``data.test``: when ``clean`` sealed a test file, the
test fingerprints (hashes of normalized test texts) are all it needs to keep
test text out of train and valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from rich.markup import escape

from ratchet.config import GateParams
from ratchet.crossfit.folds import FoldPlan
from ratchet.data.io import write_parquet
from ratchet.data.multilabel import MULTILABEL, TASK_KEY, label_matrix, label_union
from ratchet.data.near_duplicates import save_signatures, sign
from ratchet.data.report import summarize
from ratchet.data.split import (
    check_train_covers,
    frame_fingerprints,
    label_ids,
    label_list,
    remove_test_overlap,
    stratified_split,
)
from ratchet.errors import RatchetError
from ratchet.fsutil import hash_path, read_json, write_json
from ratchet.step import Completed, StepContext


@dataclass(frozen=True)
class SplitStepParams:
    valid_size: float = 0.15
    """Share of the cleaned pool held out for validation."""
    test_size: float = 0.2
    """Share of the cleaned pool sealed as test; unused when a test file was given."""
    seed: int = 0
    label_fixes: str | None = None
    """Reviewed label_issues.csv (accept column): applied to training rows only, never to valid or test."""
    label_fixes_sha256: str | None = None
    """Content hash of ``label_fixes`` (filled in when not given), so --resume notices an edited file."""
    gate: GateParams = field(default_factory=GateParams)
    """Its folds settings decide the fold plan (data.folds): cross-fitted folds or the holdout split."""

    def __post_init__(self) -> None:
        if self.label_fixes is not None and self.label_fixes_sha256 is None:
            path = Path(self.label_fixes)
            object.__setattr__(self, "label_fixes_sha256", hash_path(path) if path.is_file() else None)


class SplitStep:
    name: ClassVar[str] = "split"
    requires: ClassVar[tuple[str, ...]] = ("data.clean", "data.report")
    optional: ClassVar[tuple[str, ...]] = ("data.test_fingerprints", "data.near_duplicates")
    provides: ClassVar[tuple[str, ...]] = (
        "data.train",
        "data.valid",
        "data.folds",
        "data.test",
        "data.test_fingerprints",
        "data.test_signatures",
        "data.labels",
        "data.report",
    )
    gated: ClassVar[bool] = False

    def __init__(self, params: SplitStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        p = self.params
        pool = pd.read_parquet(ctx.artifacts.get("data.clean"))
        near_path = ctx.artifacts.maybe("data.near_duplicates")
        near = read_json(near_path) if near_path is not None else {"groups": [], "test_copies": []}
        pool = pool.assign(**{_ROW: np.arange(len(pool))})
        report = dict(read_json(ctx.artifacts.get("data.report")))
        multilabel = report.get(TASK_KEY) == MULTILABEL
        sealed_fingerprints = ctx.artifacts.maybe("data.test_fingerprints")
        carve = sealed_fingerprints is None
        train, valid, test = split_keeping_groups(
            pool, near["groups"], p.valid_size, p.test_size if carve else None, p.seed, multilabel
        )
        fingerprints = sorted(set(frame_fingerprints(test))) if carve else read_json(sealed_fingerprints)
        train, valid, removed, near_removed = _without_test_text(train, valid, fingerprints, near["test_copies"])
        labels, kind = (label_union(pool["label"]), "str") if multilabel else label_list(pool["label"])
        train, fixes_applied = _apply_label_fixes(p, train, labels, multilabel, ctx)
        if multilabel:
            check_train_covers_sets(train, labels)
        else:
            check_train_covers(train, labels)
        plan = _fold_plan(p, train, valid, near["groups"], labels, multilabel)
        train, valid = train.drop(columns=[_ROW]), valid.drop(columns=[_ROW])
        if test is not None:
            test = test.drop(columns=[_ROW])

        provides = _write_splits(ctx.run_dir / "data", train, valid, test, labels, kind, multilabel, plan)
        if test is not None:  # carved here: sealed from now on, with what clean would have recorded of a test file
            data_dir = ctx.run_dir / "data"
            provides["data.test_fingerprints"] = data_dir / "test_fingerprints.json"
            write_json(provides["data.test_fingerprints"], fingerprints)
            if near_path is not None:
                provides["data.test_signatures"] = data_dir / "test_minhash.npy"
                pairs = test["text_pair"].tolist() if "text_pair" in test.columns else None
                save_signatures(provides["data.test_signatures"], sign(test["text"].tolist(), pairs).signatures)

        counts = {"train": len(train), "valid": len(valid), **({"test": len(test)} if test is not None else {})}
        report["splits"] = counts
        report["split"] = {"valid_size": p.valid_size, "test_size": p.test_size if carve else None, "seed": p.seed,
                           "test_source": "split" if carve else "file"}  # fmt: skip
        report["test_overlap_removed"] = removed
        if isinstance(report.get("near_duplicates"), dict) and "groups" in report["near_duplicates"]:
            report["near_duplicates"]["removed_as_test_copies"] = near_removed
            report["near_duplicates"]["groups_kept_in_one_split"] = len(near["groups"])
        if fixes_applied is not None:
            report["label_fixes"] = {"file": p.label_fixes, **fixes_applied}
        report["judging"] = {"mode": plan.mode, "folds": plan.k, "judged_rows": plan.n_judged, "reason": plan.reason}
        write_json(provides["data.report"], report)
        for line in summarize(report):  # the compact data summary, once per run, before any training
            ctx.progress.log(f"  {escape(line)}")
        for name, n in removed.items():
            if n:
                ctx.log.info("split: removed %d %s rows whose text is also in the test set", n, name)
        for name, n in near_removed.items():
            if n:
                ctx.log.info("split: removed %d %s rows that are near-copies of test texts", n, name)
        metrics = {
            "judging": report["judging"],
            **{f"{k}_rows": v for k, v in counts.items()},
            "test_overlap_removed": removed,
            "test_near_copies_removed": near_removed,
        }
        if fixes_applied is not None:
            metrics["label_fixes"] = fixes_applied
        return Completed(provides=provides, metrics=metrics)


def _without_test_text(
    train: pd.DataFrame, valid: pd.DataFrame, fingerprints: list[str], test_copies: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int], dict[str, int]]:
    """Train and valid without rows whose text is in the test set, nor near-copies of a sealed test file's texts
    (found by clean, which holds the test text; a carved test needs no such pass: near-duplicate groups were kept
    in one split). Also the counts removed, exact and near, per split."""
    frames, removed = remove_test_overlap({"train": train, "valid": valid}, fingerprints)
    copies = set(test_copies)
    near_removed = {name: int(frame[_ROW].isin(copies).sum()) for name, frame in frames.items()}
    train, valid = (frames[k][~frames[k][_ROW].isin(copies)].reset_index(drop=True) for k in ("train", "valid"))
    if valid.empty:
        raise RatchetError("every validation text is also in the test set: give a test file with other texts")
    return train, valid, removed, near_removed


def _apply_label_fixes(
    p: SplitStepParams, train: pd.DataFrame, labels: list, multilabel: bool, ctx: StepContext
) -> tuple[pd.DataFrame, dict | None]:
    """Reviewed label fixes (--label-fixes), applied to training rows only; what was applied, or None."""
    if p.label_fixes is None:
        return train, None
    if multilabel:
        raise RatchetError("--label-fixes is not supported for multi-label runs yet: leave it out")
    from ratchet.relabel.fixes import apply_label_fixes, read_label_fixes

    train, applied = apply_label_fixes(train, read_label_fixes(p.label_fixes, labels))
    ctx.log.info("split: label fixes from %s: %s", p.label_fixes, applied)
    return train, applied


def _write_splits(
    data_dir: Path, train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame | None, labels: list, kind: str,
    multilabel: bool, plan: FoldPlan,
) -> dict[str, Path]:  # fmt: skip
    """The splits (with label ids), the label list and the fold plan on disk; the report's path, written last."""
    provides = {
        "data.train": data_dir / "train.parquet",
        "data.valid": data_dir / "valid.parquet",
        "data.labels": data_dir / "labels.json",
        "data.report": data_dir / "data_report.json",
        "data.folds": data_dir / "folds.json",
    }
    write_parquet(provides["data.train"], _with_ids(train, labels, multilabel))
    write_parquet(provides["data.valid"], _with_ids(valid, labels, multilabel))
    write_json(
        provides["data.labels"], {"labels": labels, "kind": kind, **({TASK_KEY: MULTILABEL} if multilabel else {})}
    )
    plan.save(provides["data.folds"])
    if test is not None:
        provides["data.test"] = data_dir / "test.parquet"
        write_parquet(provides["data.test"], _with_ids(test, labels, multilabel))
    return provides


def _fold_plan(
    p: SplitStepParams, train: pd.DataFrame, valid: pd.DataFrame, groups: list[list[int]], labels: list,
    multilabel: bool = False,
) -> FoldPlan:  # fmt: skip
    """Cross-fitted folds over train + valid (in that order), or the holdout split, as gate.folds says."""
    from ratchet.crossfit.folds import crossfit_plan, group_ids, holdout_plan

    k, reason = p.gate.fold_count(len(train) + len(valid))
    if k < 2:
        return holdout_plan(len(train), len(valid), p.seed, reason)
    rows = np.concatenate([train[_ROW].to_numpy(), valid[_ROW].to_numpy()])
    position = {int(row): i for i, row in enumerate(rows)}
    # near-duplicate groups in pool positions (members the split removed as test copies are gone)
    pooled = [[position[r] for r in group if r in position] for group in groups]
    owner = group_ids(len(rows), [g for g in pooled if len(g) > 1])
    pooled_labels = pd.concat([train["label"], valid["label"]], ignore_index=True)
    if multilabel:
        from ratchet.crossfit.folds import CROSSFIT
        from ratchet.data.multilabel_split import iterative_folds

        folds = iterative_folds(label_matrix(pooled_labels, labels), owner, k, p.seed)
        return FoldPlan(CROSSFIT, folds, len(train), p.seed, reason)
    y = label_ids(pooled_labels, labels)
    return crossfit_plan(y, owner, len(train), k, p.seed, reason)


_ROW = "_pool_row"
"""Row number in data.clean, carried through the split to match clean's near-duplicate findings."""


def split_keeping_groups(
    pool: pd.DataFrame, groups: list[list[int]], valid_size: float, test_size: float | None, seed: int,
    multilabel: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:  # fmt: skip
    """Stratified split in which each near-duplicate group lands whole in one split.

    The first row of a group stands for it in the stratified split and the others follow it:
    a near-copy on both sides of the train/valid line would flatter validation (and one on
    both sides of the test line would leak test text). Without groups this is the plain split.
    Label sets (``multilabel``) split by iterative stratification.
    """
    split = multilabel_split if multilabel else stratified_split
    if not groups:
        return split(pool, valid_size, test_size, seed)
    owner = np.arange(len(pool))
    for group in groups:
        owner[group] = group[0]
    representatives = pool[owner == np.arange(len(pool))]
    parts = split(representatives, valid_size, test_size, seed)
    split_of = np.empty(len(pool), dtype=np.int64)
    for index, part in enumerate(parts):
        if part is not None:
            split_of[part[_ROW].to_numpy()] = index
    split_of = split_of[owner]
    train, valid, test = (pool[split_of == i].reset_index(drop=True) for i in range(3))
    return train, valid, test if parts[2] is not None else None


def multilabel_split(
    frame: pd.DataFrame, valid_size: float, test_size: float | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """``stratified_split`` for label sets: iterative stratification over the label matrix."""
    from ratchet.data.multilabel_split import iterative_split

    matrix = label_matrix(frame["label"], label_union(frame["label"]))
    train, valid, test = iterative_split(matrix, valid_size, test_size, seed)

    def take(rows: np.ndarray) -> pd.DataFrame:
        return frame.iloc[np.sort(rows)].reset_index(drop=True)

    return take(train), take(valid), None if test is None else take(test)


def check_train_covers_sets(train: pd.DataFrame, labels: list) -> None:
    missing = sorted(set(map(str, labels)) - set(label_union(train["label"])))
    if missing:
        raise RatchetError(
            f"no training rows left for label {', '.join(missing)} once texts that also appear in the test "
            "set were removed: add training examples for it"
        )


def _with_ids(frame: pd.DataFrame, labels: list, multilabel: bool = False) -> pd.DataFrame:
    """The frame with its label ids: a class id, or (multi-label) a 0/1 list with one entry per label."""
    if multilabel:
        return frame.assign(label_id=list(label_matrix(frame["label"], labels)))
    return frame.assign(label_id=label_ids(frame["label"], labels))
