"""Step ``clean``: read the user's files, repair text, merge duplicates, and seal a given test file.

The raw input files are not artifacts, so their content hashes sit in the
params: ``--resume`` then reruns this step (and all after it) when a file changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ratchet.chunking.params import ChunkParams
from ratchet.config import DEFAULT_MODEL, CleanParams, DataParams, TrainParams
from ratchet.data.clean import clean_frame, normalize_frame
from ratchet.data.columns import ResolvedColumns, resolve_columns, standardize
from ratchet.data.io import read_table, write_parquet
from ratchet.data.label_checks import check_test_label_sets, label_set_report, validate_labels
from ratchet.data.multilabel import MULTILABEL, TASK_KEY, label_matrix, label_union
from ratchet.data.near_duplicates import near_copies, near_duplicates, save_signatures, sign
from ratchet.data.report import add_model_sections, build_data_report, length_stats, near_duplicate_section
from ratchet.data.split import check_test_labels, frame_fingerprints, label_ids, label_list
from ratchet.errors import RatchetError
from ratchet.fsutil import hash_path, write_json
from ratchet.step import Completed, StepContext


@dataclass(frozen=True)
class CleanStepParams:
    data: str
    """Labeled training data file."""
    test: str | None = None
    """Optional labeled test file (normalized, never merged, then sealed)."""
    columns: DataParams = field(default_factory=DataParams)
    clean: CleanParams = field(default_factory=CleanParams)
    data_sha256: str | None = None
    """Content hash of ``data``, filled in when not given: the input files are not artifacts, so their
    hashes live in the params (and the manifest), and --resume reruns the step when a file changed."""
    test_sha256: str | None = None
    model: str = DEFAULT_MODEL
    """Backbone whose tokenizer measures token lengths and coverage in the data report."""
    max_length: int = TrainParams.max_length
    """Token length beyond which the report counts a row as truncated (train.max_length)."""
    chunk_threshold: float = ChunkParams.threshold
    """Share of long rows above which the report says the chunk step will run (chunk.threshold)."""

    def __post_init__(self) -> None:
        if self.data_sha256 is None:
            object.__setattr__(self, "data_sha256", _file_hash(self.data))
        if self.test_sha256 is None:
            object.__setattr__(self, "test_sha256", _file_hash(self.test))


def _file_hash(path: str | None) -> str | None:
    # A missing file is reported by run() with a proper message; here it just has no hash.
    return hash_path(Path(path)) if path and Path(path).is_file() else None


class CleanStep:
    name: ClassVar[str] = "clean"
    requires: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = (
        "data.clean", "data.test", "data.test_fingerprints", "data.report", "data.near_duplicates",
        "data.test_signatures",
    )  # fmt: skip
    gated: ClassVar[bool] = False

    def __init__(self, params: CleanStepParams) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        p = self.params
        data_dir = ctx.run_dir / "data"
        raw = read_table(p.data)
        columns = resolve_columns(raw, p.columns)
        for role, how in columns.detected.items():
            ctx.log.info("%s column: %s (%s)", role, getattr(columns, role), how)
        pool, clean_report = clean_frame(standardize(raw, columns), p.clean)
        validate_labels(pool, columns.multilabel)
        provides = {"data.clean": data_dir / "clean.parquet"}
        write_parquet(provides["data.clean"], pool)

        test_report = None
        test = None
        if p.test is not None:
            labels = label_union(pool["label"]) if columns.multilabel else label_list(pool["label"])[0]
            test, test_report = _prepare_test(p, columns, labels)
            provides["data.test"] = data_dir / "test.parquet"
            provides["data.test_fingerprints"] = data_dir / "test_fingerprints.json"
            write_parquet(provides["data.test"], test)
            write_json(provides["data.test_fingerprints"], sorted(set(frame_fingerprints(test))))

        report = build_data_report(clean_report, columns=columns, lengths=length_stats(pool), test=test_report)
        if columns.multilabel:
            report[TASK_KEY] = MULTILABEL
            report["multilabel"] = label_set_report(pool["label"])
        if p.clean.near_duplicates:
            report["near_duplicates"] = _near_duplicates(p, pool, test, data_dir, provides)
        else:
            report["near_duplicates"] = {"skipped": "clean.near_duplicates is off"}
        report["warnings"] = add_model_sections(report, pool, model=p.model, max_length=p.max_length,
                                                chunk_threshold=p.chunk_threshold)  # fmt: skip
        for warning in report["warnings"]:
            ctx.log.warning("data: %s", warning)
        # The split step writes the full RUN/data/data_report.json; this partial one stays with the step
        # so that the split's input hash does not change under it (which would defeat --resume).
        provides["data.report"] = ctx.step_dir / "data_report.json"
        write_json(provides["data.report"], report)
        metrics = {
            "rows_in": clean_report["rows_in"],
            "rows_out": clean_report["rows_out"],
            "classes": len(clean_report["classes"]),
            "duplicates_merged": clean_report["duplicates_merged"],
            "conflict_groups": clean_report["conflict_groups"],
            "test_rows": None if test_report is None else test_report["rows_out"],
        }
        return Completed(provides=provides, metrics=metrics)


def _near_duplicates(
    p: CleanStepParams, pool: pd.DataFrame, test: pd.DataFrame | None, data_dir: Path, provides: dict[str, Path]
) -> dict:
    """Near-duplicate groups of the pool, and pool rows that near-copy a test row.

    Only this step (which seals the test file) compares the pool with test text. What leaves it is
    row indices of the pool (``near_duplicates.json``, read by split) and MinHash signatures of the
    test rows (``test_minhash.npy``): neither reveals test text or labels, so neither is sealed.
    """

    def pairs_of(frame: pd.DataFrame) -> list[str] | None:
        return frame["text_pair"].tolist() if "text_pair" in frame.columns else None

    threshold = p.clean.near_duplicate_threshold
    signed = sign(pool["text"].tolist(), pairs_of(pool))
    found = near_duplicates(signed, threshold)
    section = near_duplicate_section(pool, found)
    record: dict = {"threshold": threshold, "groups": [g.tolist() for g in found.groups()], "test_copies": []}
    if test is not None:
        signed_test = sign(test["text"].tolist(), pairs_of(test))
        copies = near_copies(signed, signed_test, threshold)
        record["test_copies"] = np.flatnonzero(copies.hit).tolist()
        section["test_copies"] = len(record["test_copies"])
        provides["data.test_signatures"] = data_dir / "test_minhash.npy"
        save_signatures(provides["data.test_signatures"], signed_test.signatures)
    provides["data.near_duplicates"] = data_dir / "near_duplicates.json"
    write_json(provides["data.near_duplicates"], record)
    return section


def _prepare_test(p: CleanStepParams, columns: ResolvedColumns, labels: list) -> tuple[pd.DataFrame, dict]:
    """Normalize the test file like the pool (same columns), keep every row, check its labels."""
    assert p.test is not None
    raw = read_table(p.test)
    same = [c for c in (columns.text, columns.text_pair, columns.label, *(columns.label_cols or ())) if c is not None]
    if all(c in raw.columns for c in same):
        test_columns = ResolvedColumns(text=columns.text, text_pair=columns.text_pair, label=columns.label,
                                       label_cols=columns.label_cols, label_sep=columns.label_sep,
                                       multilabel=columns.multilabel)  # fmt: skip
    else:
        try:
            test_columns = resolve_columns(raw, p.columns)
        except RatchetError as exc:
            raise RatchetError(f"test file {p.test}: {exc}") from None
    test, report = normalize_frame(standardize(raw, test_columns), p.clean)
    if test.empty:
        raise RatchetError(f"test file {p.test} has no rows with both text and label: check its columns")
    if test_columns.multilabel != columns.multilabel:
        raise RatchetError(f"test file {p.test}: its labels are not in the training data's form: use the same form")
    if columns.multilabel:
        check_test_label_sets(test, labels)
        test["label_id"] = list(label_matrix(test["label"], labels))
    else:
        check_test_labels(test, labels)
        test["label_id"] = label_ids(test["label"], labels)
    report["columns"] = {"text": test_columns.text, "text_pair": test_columns.text_pair, "label": test_columns.label}
    return test, report
