"""A windowed model (the chunk step's) predicts the same through ratchet.load, serve's model, the ONNX reader
and its README's onnxruntime snippet: every path cuts the same windows and pools them the same way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ratchet_testing import sharp_classifier_folder, synthetic_rows

import ratchet
from ratchet.cli import main
from ratchet.export import open_export

LABELS = ["negative", "neutral", "positive"]
ROWS = synthetic_rows(60, seed=5)
# Long texts (several rows joined: 30-50 tokens against windows of 12) and short ones that fit a window.
TEXTS = [" ".join(r["review"] for r in ROWS[i : i + 1 + i % 5]) for i in range(0, 40, 2)] + ["great", "awful pain"]


def windowed_folder(
    tiny_model_dir, root: Path, family: str, aggregation: str, stride: int, pair: bool = False, cut: str = "windows"
):  # fmt: skip
    windowing = {"stride": stride, "aggregation": aggregation, "window": 12, "cut": cut}
    if cut == "head_tail":
        windowing["head_share"] = 0.25
    else:  # as chunk records it: how the fine-tune learnt, which the reader does not need
        windowing["loss"] = "document"
    meta = {"max_length": 12, "text_pair": pair, "windowing": windowing}
    return sharp_classifier_folder(tiny_model_dir(family), root / f"{family}-{aggregation}-{cut}", LABELS, meta)


CASES = [("bert", "mean", 0), ("gpt2", "max", 3), ("t5", "tokens", 5), ("bert", "confidence", 4)]


@pytest.mark.parametrize(("family", "aggregation", "stride"), CASES)
def test_the_onnx_reader_cuts_and_pools_windows_as_ratchet_does(tiny_model_dir, tmp_path, family, aggregation, stride):
    folder = windowed_folder(tiny_model_dir, tmp_path, family, aggregation, stride)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["model"]["windowing"] == {"stride": stride, "aggregation": aggregation, "window": 12, "cut": "windows",
                                          "loss": "document"}  # fmt: skip
    expected = ratchet.load(folder).predict_proba(TEXTS)
    np.testing.assert_allclose(open_export(export).predict_proba(TEXTS), expected, atol=1e-5)
    # The windows matter: the same weights read through truncation give other probabilities on long texts
    # (the tiny model is nearly indifferent to its input: ten times the tolerance of the match above).
    plain = sharp_classifier_folder(tiny_model_dir(family), tmp_path / "plain", LABELS, {"max_length": 12})
    assert np.abs(ratchet.load(plain).predict_proba(TEXTS)[:5] - expected[:5]).max() > 1e-4


def test_a_windowed_pair_model_exports_too(tiny_model_dir, tmp_path) -> None:
    folder = windowed_folder(tiny_model_dir, tmp_path, "bert", "mean", 0, pair=True)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    pairs = [TEXTS[-1 - i] for i in range(len(TEXTS))]  # long texts with short pairs, short with long
    np.testing.assert_allclose(open_export(export).predict_proba(TEXTS, pairs),
                               ratchet.load(folder).predict_proba(TEXTS, pairs), atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_a_head_tail_model_reads_the_same_through_load_and_the_onnx_reader(tiny_model_dir, tmp_path, family) -> None:
    folder = windowed_folder(tiny_model_dir, tmp_path, family, "mean", 0, cut="head_tail")
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["model"]["windowing"]["cut"] == "head_tail" and spec["model"]["windowing"]["head_share"] == 0.25
    expected = ratchet.load(folder).predict_proba(TEXTS)
    np.testing.assert_allclose(open_export(export).predict_proba(TEXTS), expected, atol=1e-5)
    # One row a text, not windows: the same weights read through windows give other probabilities on long texts.
    windows = windowed_folder(tiny_model_dir, tmp_path, family, "mean", 0)
    assert np.abs(ratchet.load(windows).predict_proba(TEXTS)[:5] - expected[:5]).max() > 1e-4
    if family == "bert":  # text pairs: a long text with a short pair, a short text with a long pair
        pair_folder = windowed_folder(tiny_model_dir, tmp_path / "pair", family, "mean", 0, pair=True, cut="head_tail")
        pair_export = tmp_path / "pair-export"
        assert main(["export", str(pair_folder), "--out", str(pair_export)]) == 0
        pairs = [TEXTS[-1 - i] for i in range(len(TEXTS))]
        np.testing.assert_allclose(open_export(pair_export).predict_proba(TEXTS, pairs),
                                   ratchet.load(pair_folder).predict_proba(TEXTS, pairs), atol=1e-5)  # fmt: skip


@pytest.mark.parametrize(("aggregation", "cut"), [("mean", "windows"), ("max", "windows"), ("tokens", "windows"),
                                                  ("confidence", "windows"), ("mean", "head_tail")])  # fmt: skip
def test_the_readme_snippet_applies_the_windowing_with_onnxruntime_alone(tiny_model_dir, tmp_path, aggregation, cut):
    from ratchet.predictor import load_predictor

    folder = windowed_folder(tiny_model_dir, tmp_path, "bert", aggregation, 0, cut=cut)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    readme = (export / "README.md").read_text()
    said = f"pooled by {aggregation}" if cut == "windows" else "cut to their head (25% of max_length) and tail"
    assert said in readme
    snippet = re.search(r"## One graph with onnxruntime alone.*?```python\n(.*?)```", readme, re.S).group(1)
    code = snippet + f"\nimport json\nprint(json.dumps([probabilities(t).tolist() for t in {TEXTS[:6]!r}]))\n"
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=export, capture_output=True, text=True, check=True)
    raw = load_predictor(folder).base.predict_probs(TEXTS[:6])  # before calibration, like the snippet
    np.testing.assert_allclose(np.array(json.loads(done.stdout)), raw, atol=1e-5)


def test_serve_answers_with_the_windowed_model_from_the_folder_and_from_its_export(tiny_model_dir, tmp_path) -> None:
    from ratchet.serve.app import ServeConfig, _Model  # what /predict calls, without an HTTP server

    folder = windowed_folder(tiny_model_dir, tmp_path, "bert", "mean", 0)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    expected = ratchet.load(folder).predict_proba(TEXTS)
    for source, backend in ((folder, "pytorch"), (export, "onnxruntime")):
        served = _Model(ServeConfig(source=str(source)))
        assert served.backend == backend
        np.testing.assert_allclose(served.predict_proba(TEXTS), expected, atol=1e-5)


def test_compress_does_not_take_a_windowed_model_for_a_truncated_one(tiny_model_dir, tmp_path) -> None:
    from ratchet.steps.compress import _why_not

    folder = windowed_folder(tiny_model_dir, tmp_path, "bert", "mean", 0)
    assert "reads texts in windows" in _why_not(folder)
    plain = sharp_classifier_folder(tiny_model_dir("bert"), tmp_path / "plain", LABELS, {"max_length": 12})
    assert _why_not(plain) is None


def test_a_windowing_this_ratchet_cannot_read_is_a_one_line_error(tiny_model_dir, tmp_path, capsys) -> None:
    folder = windowed_folder(tiny_model_dir, tmp_path, "bert", "mean", 0, cut="middle")
    texts = tmp_path / "texts.csv"
    texts.write_text("review\n" + "\n".join(TEXTS[:3]) + "\n")
    assert main(["predict", str(folder), str(texts), "--out", str(tmp_path / "out.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the model's windowing (cut 'middle', head_share 0.25) is not one this ratchet")
    assert "upgrade ratchet" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()
