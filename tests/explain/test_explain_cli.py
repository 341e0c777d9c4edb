"""ratchet explain / predict --explain / Predictor.explain / the report section on a run that shipped the baseline,
HTML escaping, and bad input through the real CLI (one line, exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from ratchet_testing import synthetic_rows

import ratchet
from ratchet.cli import main
from ratchet.explain.html_page import render_page
from ratchet.explain.result import Explanation

CUES = {"positive", "negative", "neutral"}


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("explain")
    data, test, texts = root / "train.csv", root / "test.csv", root / "in.csv"
    pd.DataFrame(synthetic_rows(90, seed=1)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(15, seed=2)).to_csv(test, index=False)
    pd.DataFrame(
        {"review": ["terrible awful pain", "great excellent relief", "<script>alert(1)</script> great"]}
    ).to_csv(texts, index=False)
    run = root / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(run), "--steps", "clean,split,baseline,evaluate,report"]
    assert main([*args, "--quiet"]) == 0
    return run, texts


def test_explain_jsonl_on_the_baseline(linear_run, tmp_path: Path) -> None:
    run, texts = linear_run
    out = tmp_path / "x.jsonl"
    assert main(["explain", str(run), str(texts), "--out", str(out), "--top", "2", "--quiet"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in records[:2]] == ["negative", "positive"]
    for record in records:
        assert record["space"] == "logit"
        assert sum(record["scores"]) + record["baseline_value"] == pytest.approx(record["value"], abs=1e-9)
        assert len(record["words"]) == len(record["scores"]) and len(record["top_words"]) == 2
    assert {w for w, _ in records[0]["top_words"]} <= {"terrible", "awful", "pain"}
    assert {w for w, _ in records[1]["top_words"]} <= {"great", "excellent", "relief"}


def test_python_api_predict_explain_and_report(linear_run, tmp_path: Path) -> None:
    run, texts = linear_run
    found = ratchet.load(run).explain(["awful terrible medicine"], method="occlusion", top=1)
    assert found[0]["label"] == "negative" and found[0]["top_words"][0][0] in ("awful", "terrible")
    assert found[0]["words"] == ["awful", "terrible", "medicine"]
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(texts), "--out", str(out), "--explain", "--top", "1", "--quiet"]) == 0
    table = pd.read_csv(out)
    first, second = table["top_words"].tolist()[:2]
    assert first in ("terrible", "awful", "pain") and second in ("great", "excellent", "relief")
    report = (run / "report.html").read_text()
    assert "Why the model decides" in report and 'id="why"' in report and "No explanations" not in report


def test_html_is_escaped(linear_run, tmp_path: Path) -> None:
    run, texts = linear_run
    out = tmp_path / "x.html"
    assert main(["explain", str(run), str(texts), "--out", str(out), "--quiet"]) == 0
    page = out.read_text()
    assert "<script" not in page and ">&lt;</span>" in page  # each word is its own span: "<", "script", ">"
    evil = Explanation("<script>x</script>", ["<", "script", ">"], [(0, 1), (1, 7), (7, 8)], [0.1, 0.2, 0.3],
                       "<img src=x onerror=alert(1)>", 0, 0.9, "<img src=x onerror=alert(1)>", 0.9, "ig", "logit",
                       1.0, 0.4)  # fmt: skip
    page = render_page([evil], "<b>title</b>")
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_faithfulness_is_printed(linear_run, capsys) -> None:
    run, texts = linear_run
    assert main(["explain", str(run), str(texts), "--faithfulness", "--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in printed.splitlines()[3:]}
    assert set(rows) == {"ig", "occlusion", "random"}
    assert rows["ig"][0] > rows["random"][0]  # removing the top words drops the probability more than random ones


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ratchet.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("case", ["missing run", "bad target", "unreadable input"])
def test_bad_input_is_one_line(case: str, linear_run, tmp_path: Path) -> None:
    run, texts = linear_run
    out = str(tmp_path / "x.jsonl")
    if case == "missing run":
        args, expected = [str(tmp_path / "nope"), str(texts), "--out", out], "run folder not found"
    elif case == "bad target":
        args, expected = [str(run), str(texts), "--out", out, "--target", "purple"], "'purple' is not a label"
    else:
        binary = tmp_path / "in.csv"
        binary.write_bytes(b"\xff\xfe\x00\x81" * 50)
        args, expected = [str(run), str(binary), "--out", out], str(binary)
    done = _cli("explain", *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr and not Path(out).exists()


def test_a_cross_fitted_report_explains_the_out_of_fold_mistakes_first(linear_run, tmp_path: Path) -> None:
    """The shipped model was refit on every pool row, so the section orders rows by the held-out fold models'
    mistakes (no pass of the shipped model over every row): a row those got confidently wrong is explained."""
    import shutil

    from ratchet.reporting.report import build_report

    run = tmp_path / "run"
    shutil.copytree(linear_run[0], run)
    [saved] = run.glob("steps/*-report/valid_predictions.parquet")
    frame = pd.read_parquet(saved)
    assert len(frame) == 90  # every train+valid row, out of fold
    row = int(frame.index[-1])
    # The fold models got this row confidently wrong (its label says so; the shipped model still reads it right).
    frame.loc[row, "label_id"] = (int(frame.loc[row, "pred_id"]) + 1) % 3
    frame.loc[row, "confidence"] = 1.0
    frame.to_parquet(saved)
    html = build_report(run).read_text()
    assert "of 90 train+valid rows" in html and "held-out fold models got most confidently wrong" in html
    mistakes = html.split("Most confident mistakes", 1)[1].split("A sample of correct predictions", 1)[0]
    words = re.sub(r"<[^>]+>", " ", mistakes).split()
    assert all(word in words for word in frame.loc[row, "text"].split())
