"""`ratchet compare`: paired bootstrap + McNemar on two runs that share a sealed test set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_run_folder import make_fake_run, shared_test_labels

from ratchet.cli import main
from ratchet.errors import RatchetError
from ratchet.evaluation.mcnemar import mcnemar
from ratchet.evaluation.significance import paired_bootstrap
from ratchet.fsutil import write_json
from ratchet.reporting.compare import compare_runs, format_comparison


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    y = shared_test_labels(200)
    a = make_fake_run(tmp_path / "a", seed=1, accuracy=0.55, y_test=y, search=False)
    b = make_fake_run(tmp_path / "b", seed=2, accuracy=0.9, y_test=y)
    return a, b


def predictions(run: Path) -> pd.DataFrame:
    return pd.read_parquet(next((run / "steps").glob("*-evaluate/test_predictions.parquet")))


def test_compare_matches_the_significance_functions(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    result = compare_runs(a, b, n_bootstrap=500, seed=3)
    pa, pb = predictions(a), predictions(b)
    y = pa["label_id"].to_numpy()
    expected = paired_bootstrap(y, pa["pred_id"].to_numpy(), pb["pred_id"].to_numpy(), k=3, n_bootstrap=500, seed=3)
    macro = result["metrics"]["macro_f1"]
    assert macro["a"] == pytest.approx(expected.metric_a) and macro["b"] == pytest.approx(expected.metric_b)
    assert macro["ci"] == pytest.approx([expected.ci_low, expected.ci_high])
    assert result["metrics"]["accuracy"]["a"] == pytest.approx(float(np.mean(pa["pred_id"] == y)))
    test = mcnemar(y, pa["pred_id"].to_numpy(), pb["pred_id"].to_numpy())
    right_a, right_b = pa["pred_id"].to_numpy() == y, pb["pred_id"].to_numpy() == y
    assert result["mcnemar"]["b_right_a_wrong"] == int(np.sum(~right_a & right_b)) == test.b01
    assert result["mcnemar"]["p_value"] == pytest.approx(test.p_value)
    # B is far more accurate on 200 shared rows: both tests must see it.
    assert macro["gain"] > 0.2 and macro["ci"][0] > 0 and result["mcnemar"]["p_value"] < 1e-6
    assert result["verdict"].startswith("B is better")
    reverse = compare_runs(b, a, n_bootstrap=500, seed=3)
    assert reverse["verdict"].startswith("A is better")
    assert reverse["metrics"]["macro_f1"]["gain"] == pytest.approx(-macro["gain"])


def test_a_run_against_itself_is_no_difference(two_runs: tuple[Path, Path]) -> None:
    a, _ = two_runs
    result = compare_runs(a, a, n_bootstrap=200)
    assert result["metrics"]["macro_f1"]["gain"] == 0.0
    assert result["mcnemar"]["p_value"] == 1.0
    assert result["verdict"] == "no significant difference on this test set"


def test_runs_on_different_test_sets_are_refused(tmp_path: Path) -> None:
    a = make_fake_run(tmp_path / "a", y_test=shared_test_labels(100, seed=1))
    b = make_fake_run(tmp_path / "b", y_test=shared_test_labels(100, seed=2))
    with pytest.raises(RatchetError, match="not evaluated on the same test set"):
        compare_runs(a, b)
    c = make_fake_run(tmp_path / "c", y_test=shared_test_labels(90, seed=1))
    with pytest.raises(RatchetError, match="same --test file"):
        compare_runs(a, c)


def test_same_labels_but_different_test_texts_are_refused(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    write_json(a / "data" / "test_fingerprints.json", ["aaa", "bbb"])
    write_json(b / "data" / "test_fingerprints.json", ["aaa", "ccc"])
    with pytest.raises(RatchetError, match="same test set"):
        compare_runs(a, b)


def test_different_label_sets_are_refused(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    write_json(b / "data" / "labels.json", {"labels": ["bad", "good", "meh"], "kind": "str"})
    with pytest.raises(RatchetError, match="different labels"):
        compare_runs(a, b)


def test_a_run_without_evaluation_is_a_clear_error(tmp_path: Path) -> None:
    a = make_fake_run(tmp_path / "a")
    b = make_fake_run(tmp_path / "b", evaluate=False)
    with pytest.raises(RatchetError, match="no sealed-test predictions"):
        compare_runs(a, b)


def test_cli_compare_prints_a_table_and_json(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_runs
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "macro_f1" in out and "McNemar" in out and "verdict: B is better" in out
    assert main(["compare", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 200 and set(data["metrics"]) == {"macro_f1", "accuracy", "weighted_f1"}
    assert main(["compare", str(a), str(a.parent / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_format_comparison_lines(two_runs: tuple[Path, Path]) -> None:
    lines = format_comparison(compare_runs(*two_runs, n_bootstrap=100))
    assert lines[0].startswith("A: ") and lines[1].startswith("B: ")
    assert "200 rows, 3 labels" in lines[2]
    assert sum(line.startswith(("macro_f1", "accuracy", "weighted_f1")) for line in lines) == 3
