"""Step ``split``: stratified train/valid (and test, when no test file was given), test copies removed.

This step never reads ``data.test``: when ``clean`` sealed a test file, the
test fingerprints (hashes of normalized test texts) are all it needs to keep
test text out of train and valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from ratchet.data.io import write_parquet
from ratchet.data.split import (
    check_train_covers,
    frame_fingerprints,
    label_ids,
    label_list,
    remove_test_overlap,
    stratified_split,
)
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json, write_json
from ratchet.pipeline import StepContext, StepResult


@dataclass(frozen=True)
class SplitStepParams:
    valid_size: float = 0.15
    """Share of the cleaned pool held out for validation."""
    test_size: float = 0.2
    """Share of the cleaned pool sealed as test; unused when a test file was given."""
    seed: int = 0


class SplitStep:
    name: ClassVar[str] = "split"
    requires: ClassVar[tuple[str, ...]] = ("data.clean", "data.report", "data.test_fingerprints")
    provides: ClassVar[tuple[str, ...]] = (
        "data.train",
        "data.valid",
        "data.test",
        "data.test_fingerprints",
        "data.labels",
        "data.report",
    )
    gated: ClassVar[bool] = False

    def __init__(self, params: SplitStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> StepResult:
        p = self.params
        data_dir = ctx.run_dir / "data"
        pool = pd.read_parquet(ctx.artifacts.get("data.clean"))
        sealed_fingerprints = ctx.artifacts.maybe("data.test_fingerprints")
        carve = sealed_fingerprints is None
        train, valid, test = stratified_split(pool, p.valid_size, p.test_size if carve else None, p.seed)
        if carve:
            assert test is not None
            fingerprints = sorted(set(frame_fingerprints(test)))
        else:
            fingerprints = read_json(sealed_fingerprints)
        frames, removed = remove_test_overlap({"train": train, "valid": valid}, fingerprints)
        train, valid = frames["train"], frames["valid"]
        if valid.empty:
            raise RatchetError("every validation text is also in the test set: give a test file with other texts")
        labels, kind = label_list(pool["label"])
        check_train_covers(train, labels)

        provides = {
            "data.train": data_dir / "train.parquet",
            "data.valid": data_dir / "valid.parquet",
            "data.labels": data_dir / "labels.json",
            "data.report": data_dir / "data_report.json",
        }
        write_parquet(provides["data.train"], _with_ids(train, labels))
        write_parquet(provides["data.valid"], _with_ids(valid, labels))
        write_json(provides["data.labels"], {"labels": labels, "kind": kind})
        if carve:
            assert test is not None
            provides["data.test"] = data_dir / "test.parquet"
            provides["data.test_fingerprints"] = data_dir / "test_fingerprints.json"
            write_parquet(provides["data.test"], _with_ids(test, labels))
            write_json(provides["data.test_fingerprints"], fingerprints)

        counts = {"train": len(train), "valid": len(valid)}
        if carve:
            assert test is not None
            counts["test"] = len(test)
        report = dict(read_json(ctx.artifacts.get("data.report")))
        report["splits"] = counts
        report["split"] = {
            "valid_size": p.valid_size,
            "test_size": p.test_size if carve else None,
            "seed": p.seed,
            "test_source": "split" if carve else "file",
        }
        report["test_overlap_removed"] = removed
        write_json(provides["data.report"], report)
        for name, n in removed.items():
            if n:
                ctx.log.info("split: removed %d %s rows whose text is also in the test set", n, name)
        metrics = {**{f"{k}_rows": v for k, v in counts.items()}, "test_overlap_removed": removed}
        return StepResult(provides=provides, metrics=metrics)


def _with_ids(frame: pd.DataFrame, labels: list) -> pd.DataFrame:
    return frame.assign(label_id=label_ids(frame["label"], labels))
