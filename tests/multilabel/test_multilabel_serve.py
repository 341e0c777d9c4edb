"""ratchet serve of multi-label models, started for real: label lists and independent probabilities per text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from multilabel_models import LABELS, cue_rows, one_vs_rest_folder, sharp_sigmoid_folder
from serve.test_serve import call, start

from ratchet.cli import main
from ratchet.models.decision import Decision

TEXTS, _ = cue_rows(24, seed=21)
TEXTS = [*TEXTS, "senate football laptop", "the of and"]


def predicted(folder: Path, tmp_path: Path) -> tuple[list[list[str]], np.ndarray]:
    source, out = tmp_path / "texts.csv", tmp_path / "predicted.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(source, index=False)
    assert main(["predict", str(folder), str(source), "--out", str(out), "--quiet"]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    return [json.loads(v) for v in frame["predicted_label"]], frame[[f"prob_{x}" for x in LABELS]].to_numpy()


def served_answers(source: Path) -> tuple[dict, dict]:
    process, port = start(source)
    try:
        status, answer = call(port, "/predict", {"texts": TEXTS})
        assert status == 200, answer
        return answer, call(port, "/metadata")[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_pytorch_path_answers_label_lists(tmp_path) -> None:
    thresholds = (0.5, 0.35, 0.6)
    folder = one_vs_rest_folder(tmp_path / "linear", Decision(0.9, thresholds=thresholds, multilabel=True))
    sets, probs = predicted(folder, tmp_path)
    assert [] in sets and LABELS in sets  # the cue words give empty sets and full ones: both shapes are served
    answer, metadata = served_answers(folder)
    predictions = answer["predictions"]
    assert all(set(p) == {"labels", "probabilities"} for p in predictions)  # no single "label" key
    assert [p["labels"] for p in predictions] == sets
    served = np.array([[p["probabilities"][x] for x in LABELS] for p in predictions])
    np.testing.assert_allclose(served, probs, atol=1e-6)
    assert metadata["task"] == "multilabel" and metadata["thresholds"] == dict(zip(LABELS, thresholds, strict=True))


def test_the_onnx_path_answers_what_predict_writes(tiny_model_dir, tmp_path) -> None:
    decision = Decision(1.3, thresholds=(0.4, 0.5, 0.5), multilabel=True)
    folder = sharp_sigmoid_folder(tiny_model_dir("bert"), tmp_path / "bert", decision)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    sets, probs = predicted(folder, tmp_path)
    answer, metadata = served_answers(export)
    assert metadata["backend"] == "onnxruntime" and metadata["task"] == "multilabel"
    assert [p["labels"] for p in answer["predictions"]] == sets
    served = np.array([[p["probabilities"][x] for x in LABELS] for p in answer["predictions"]])
    np.testing.assert_allclose(served, probs, atol=1e-4)


@pytest.mark.parametrize("source", ["pytorch", "onnx"])
def test_single_label_answers_keep_their_shape(source, tiny_model_dir, tmp_path) -> None:
    from ratchet_testing import sharp_classifier_folder

    folder = sharp_classifier_folder(tiny_model_dir("bert"), tmp_path / "single", ["a", "b"], {"max_length": 24})
    if source == "onnx":
        assert main(["export", str(folder), "--out", str(tmp_path / "export")]) == 0
        folder = tmp_path / "export"
    answer, metadata = served_answers(folder)
    assert all(set(p) == {"label", "probabilities"} for p in answer["predictions"])
    assert metadata["task"] == "single_label" and "thresholds" not in metadata
