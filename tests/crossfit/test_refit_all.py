"""--refit-all: after the sealed evaluation, the shipped recipe is refit on every labeled row, and says so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN, synthetic_rows

from ratchet.cli import main
from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json


def labeled(tmp_path: Path, n: int = 90) -> tuple[Path, int]:
    data = tmp_path / "data.csv"
    pd.DataFrame(synthetic_rows(n, seed=7)).to_csv(data, index=False)
    return data, n


@pytest.mark.parametrize("steps", ["clean,split,baseline,evaluate", "clean,split,baseline,train,evaluate"])
def test_the_shipped_model_is_refit_on_every_labeled_row_after_evaluation(steps, tiny_model_dir, tmp_path) -> None:
    data, n = labeled(tmp_path)
    out = tmp_path / "run"
    args = ["run", str(data), "--out", str(out), "--quiet", "--refit-all", "--steps", steps,
            "--model", str(tiny_model_dir("bert")), *FAST_TRAIN, "gate.min_gain=-1", "gate.confidence=0"]  # fmt: skip
    assert main(args) == 0
    ledger = [e["step"] for e in read_json(out / "ledger.json")]
    assert ledger[-1] == "refit_all" and ledger[-2] == "evaluate"  # added after the sealed evaluation
    sizes = {name: len(pd.read_parquet(out / "data" / f"{name}.parquet")) for name in ("train", "valid", "test")}
    manifest = read_json(out / "steps" / f"{len(ledger):02d}-refit_all" / "manifest.json")
    assert manifest["metrics"]["rows"] == sum(sizes.values())
    assert "not the model evaluated" in manifest["metrics"]["shipped"]
    shipped = read_json(out / "model" / "ratchet.json")
    assert shipped["refit_all"]["rows"] == sum(sizes.values())
    kind = "linear" if steps.endswith("baseline,evaluate") else "transformer"
    assert shipped["kind"] == kind and manifest["metrics"]["kind"] == kind
    assert read_json(out / "metrics.json")["test"]["n"] == sizes["test"]  # the evaluated model's figures stay
    predictions = tmp_path / "p.csv"
    assert main(["predict", str(out), str(data), "--out", str(predictions), "--quiet"]) == 0
    assert len(pd.read_csv(predictions)) == n


def test_refit_all_with_a_test_file_is_refused() -> None:
    with pytest.raises(RatchetError, match="--refit-all"):
        RunConfig(data="a.csv", out="run", test="t.csv", refit_all=True)
