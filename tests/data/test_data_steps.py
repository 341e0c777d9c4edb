"""The clean and split steps inside a real pipeline: artifacts, the seal, overlap removal, resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ratchet.config import DataParams, RunConfig
from ratchet.data.split import frame_fingerprints
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json
from ratchet.pipeline import Pipeline
from ratchet.steps.clean import CleanStep, CleanStepParams
from ratchet.steps.split import SplitStep, SplitStepParams

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "drug_reviews"


def _run(data: Path, out: Path, test: Path | None = None, resume: bool = False) -> Pipeline:
    config = RunConfig(data=str(data), out=str(out), test=None if test is None else str(test), resume=resume)
    steps = [
        CleanStep(CleanStepParams(data=config.data, test=config.test, columns=config.data_params, clean=config.clean)),
        SplitStep(SplitStepParams(valid_size=0.15, test_size=0.2, seed=config.seed)),
    ]
    pipeline = Pipeline(config, steps, preflight=False)
    pipeline.run()
    return pipeline


def test_drug_reviews_with_a_test_file(tmp_path: Path) -> None:
    # A test file that repeats one training review in other case and spacing.
    train_raw = pd.read_csv(EXAMPLES / "train.tsv", sep="\t", dtype=str, keep_default_na=False)
    test_raw = pd.read_csv(EXAMPLES / "test.tsv", sep="\t", dtype=str, keep_default_na=False)
    copied = train_raw.iloc[[0]].copy()
    copied["review"] = copied["review"].str.upper().str.replace(" ", "   ")
    test_path = tmp_path / "test.tsv"
    pd.concat([test_raw, copied]).to_csv(test_path, sep="\t", index=False)
    out = tmp_path / "run"
    _run(EXAMPLES / "train.tsv", out, test_path)

    data = out / "data"
    labels = read_json(data / "labels.json")
    assert labels == {"labels": ["negative", "neutral", "positive"], "kind": "str"}
    train, valid = pd.read_parquet(data / "train.parquet"), pd.read_parquet(data / "valid.parquet")
    test = pd.read_parquet(data / "test.parquet")
    assert len(test) == 380 and test["label_id"].dtype == "int64"
    assert (test["label_id"] == test["label"].map({"negative": 0, "neutral": 1, "positive": 2})).all()
    # 600 clean rows minus the one copied into the test file, minus one review the shipped files share.
    assert len(train) + len(valid) == 598
    assert set(train["label"]) == set(labels["labels"])
    sealed = set(read_json(data / "test_fingerprints.json"))
    assert not sealed & set(frame_fingerprints(train)) and not sealed & set(frame_fingerprints(valid))
    report = read_json(data / "data_report.json")
    assert sum(report["test_overlap_removed"].values()) == 2
    assert report["splits"] == {"train": len(train), "valid": len(valid)}
    assert report["split"]["test_source"] == "file"
    assert report["test"]["rows_out"] == 380
    assert report["rows"]["in"] == 600 and report["classes"]["n"] == 3
    assert not train["text"].str.contains("&#039;").any()


def _jsonl(path: Path, n: int = 60) -> Path:
    labels = [1, 3, 5]
    frame = pd.DataFrame(
        {"text": [f"review number {i} words" for i in range(n)], "stars": [labels[i % 3] for i in range(n)]}
    )
    frame.to_json(path, orient="records", lines=True)
    return path


def test_carved_test_and_resume(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "d.jsonl")
    out = tmp_path / "run"
    config_params = {"data": str(data), "out": str(out)}

    def steps():
        return [
            CleanStep(CleanStepParams(data=str(data), columns=DataParams(label_col="stars"))),
            SplitStep(SplitStepParams(valid_size=0.15, test_size=0.2, seed=3)),
        ]

    Pipeline(RunConfig(**config_params), steps(), preflight=False).run()
    parts = {name: pd.read_parquet(out / "data" / f"{name}.parquet") for name in ("train", "valid", "test")}
    assert {k: len(v) for k, v in parts.items()} == {"train": 39, "valid": 9, "test": 12}
    assert read_json(out / "data" / "labels.json") == {"labels": [1, 3, 5], "kind": "int"}
    assert read_json(out / "data" / "test_fingerprints.json") == sorted(set(frame_fingerprints(parts["test"])))
    assert parts["test"]["label"].value_counts().to_dict() == {"1": 4, "3": 4, "5": 4}

    manifests = {p.parent.name: p.stat().st_mtime_ns for p in (out / "steps").glob("*/manifest.json")}
    assert set(manifests) == {"01-clean", "02-split"}
    Pipeline(RunConfig(**config_params, resume=True), steps(), preflight=False).run()
    again = {p.parent.name: p.stat().st_mtime_ns for p in (out / "steps").glob("*/manifest.json")}
    assert again == manifests  # nothing reran

    _jsonl(data, n=63)  # the input file changed: its hash is in the clean params, so both steps rerun
    Pipeline(RunConfig(**config_params, resume=True), steps(), preflight=False).run()
    assert sum(len(pd.read_parquet(out / "data" / f"{n}.parquet")) for n in ("train", "valid", "test")) == 63


def test_split_never_asks_for_the_sealed_test() -> None:
    assert "data.test" not in SplitStep.requires
    assert not CleanStep.gated and not SplitStep.gated


@pytest.mark.parametrize("bad", ["unseen", "missing"])
def test_clean_step_bad_test_file(tmp_path: Path, bad: str) -> None:
    data = _jsonl(tmp_path / "d.jsonl")
    test = tmp_path / "t.csv"
    if bad == "unseen":
        pd.DataFrame({"text": ["x y", "z"], "stars": [1, 9]}).to_csv(test, index=False)
        match = "test labels unseen in training: 9"
    else:
        test = tmp_path / "nope.csv"
        match = "not found"

    step = CleanStep(CleanStepParams(data=str(data), test=str(test), columns=DataParams(label_col="stars")))
    config = RunConfig(data=str(data), out=str(tmp_path / "run"))
    with pytest.raises(RatchetError, match=match):
        Pipeline(config, [step], preflight=False).run()
