"""ratchet export of multi-label models: sigmoid graphs, one-vs-rest arrays, thresholds, a reader without ratchet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from multilabel_models import LABELS, cue_rows, one_vs_rest_folder, sharp_sigmoid_folder

from ratchet.cli import main
from ratchet.export import open_export
from ratchet.models.decision import Decision

TEXTS, _ = cue_rows(30, seed=11)
TEXTS = [*TEXTS, "senate football laptop", '"a &amp; b"', ""]
DECISION = Decision(1.4, thresholds=(0.3, 0.6, 0.5), multilabel=True)


def predicted(folder: Path, tmp_path: Path) -> pd.DataFrame:
    """What ``ratchet predict`` writes for TEXTS: the reference every export must reproduce."""
    source, out = tmp_path / "texts.csv", tmp_path / "predicted.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(source, index=False)
    assert main(["predict", str(folder), str(source), "--out", str(out), "--quiet"]) == 0
    return pd.read_csv(out, keep_default_na=False)


def assert_reproduces_predict(folder: Path, export: Path, tmp_path: Path, atol: float = 1e-4) -> list[list[str]]:
    expected = predicted(folder, tmp_path)
    exported = open_export(export)
    probs = exported.predict_proba(TEXTS)
    np.testing.assert_allclose(probs, expected[[f"prob_{label}" for label in LABELS]].to_numpy(), atol=atol)
    sets = exported.predict(TEXTS)
    assert sets == [json.loads(v) for v in expected["predicted_label"]]
    return sets


@pytest.fixture(scope="module")
def sigmoid_bert(tiny_model_dir, tmp_path_factory) -> Path:
    return sharp_sigmoid_folder(tiny_model_dir("bert"), tmp_path_factory.mktemp("ml") / "bert", DECISION)


@pytest.mark.parametrize("family", ["sbert", "gpt2"])
def test_the_mean_pooling_head_and_a_decoder_export_their_sigmoids(family, tiny_model_dir, tmp_path) -> None:
    """The default model's kind (a sentence-transformers encoder + ratchet's mean-pooling head) and GPT-2."""
    folder = sharp_sigmoid_folder(tiny_model_dir(family), tmp_path / family, DECISION)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    assert_reproduces_predict(folder, export, tmp_path)


def test_a_sigmoid_bert_exports_a_sigmoid_graph_with_its_thresholds(sigmoid_bert, tmp_path) -> None:
    export = tmp_path / "export"
    assert main(["export", str(sigmoid_bert), "--out", str(export)]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["task"] == "multilabel" and spec["thresholds"] == [0.3, 0.6, 0.5]
    assert spec["model"]["decision"] == {"temperature": 1.4, "bias": None, "multilabel": True,
                                         "thresholds": [0.3, 0.6, 0.5]}  # fmt: skip
    sets = assert_reproduces_predict(sigmoid_bert, export, tmp_path)
    raw = open_export(export).root
    probs = raw["session"].run(None, {"input_ids": np.array([[2, 5, 3]]), "attention_mask": np.ones((1, 3), int),
                                      "token_type_ids": np.zeros((1, 3), int)})[0]  # fmt: skip
    assert not np.isclose(probs.sum(), 1.0)  # independent sigmoids, not a softmax
    by_threshold = open_export(export).predict_proba(TEXTS) >= np.array([0.3, 0.6, 0.5])
    assert sets == [[LABELS[j] for j in np.flatnonzero(row)] for row in by_threshold]
    readme = (export / "README.md").read_text()
    assert "one list of labels per text" in readme and "sigmoid(logit p / T)" in readme


def test_the_one_vs_rest_baseline_exports_as_arrays(tmp_path) -> None:
    folder = one_vs_rest_folder(tmp_path / "linear", Decision(0.7, thresholds=(0.5, 0.4, 0.55), multilabel=True))
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["model"]["kind"] == "linear" and spec["model"]["one_vs_rest"] is True
    sets = assert_reproduces_predict(folder, export, tmp_path, atol=1e-5)
    assert sets[-3] == LABELS  # every cue word: every label


def test_a_blend_of_both_exports_with_its_weights(sigmoid_bert, tmp_path) -> None:
    from ratchet.models.ensemble import save_ensemble

    linear = one_vs_rest_folder(tmp_path / "linear")
    blend = tmp_path / "blend"
    save_ensemble([sigmoid_bert, linear], blend, weights=[0.6, 0.4])
    Decision(1.2, thresholds=(0.45, 0.5, 0.5), multilabel=True).save(blend)
    export = tmp_path / "export"
    assert main(["export", str(blend), "--out", str(export)]) == 0
    assert json.loads((export / "export.json").read_text())["model"]["kind"] == "ensemble"
    assert_reproduces_predict(blend, export, tmp_path)


def test_int8_keeps_the_sigmoid_graph(sigmoid_bert, tmp_path) -> None:
    export = tmp_path / "int8"
    assert main(["export", str(sigmoid_bert), "--out", str(export), "--quantize", "int8"]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["model"]["graph"].endswith("model.int8.onnx") and spec["task"] == "multilabel"
    expected = predicted(sigmoid_bert, tmp_path)[[f"prob_{label}" for label in LABELS]].to_numpy()
    probs = open_export(export).predict_proba(TEXTS)
    assert probs.shape == expected.shape and not np.allclose(probs.sum(axis=1), 1.0)
    assert np.abs(probs - expected).max() < 0.1  # int8 weights: close to the float model, not equal


def test_the_export_runs_in_a_process_without_ratchet(sigmoid_bert, tmp_path) -> None:
    export = tmp_path / "export"
    assert main(["export", str(sigmoid_bert), "--out", str(export)]) == 0
    code = (
        "import json, sys\nsys.path.insert(0, '.')\nfrom ratchet_onnx import ExportedModel\n"
        "model = ExportedModel('.')\n"
        f"texts = {TEXTS!r}\n"
        "print(json.dumps({'sets': model.predict(texts), 'probs': model.predict_proba(texts).tolist(),\n"
        "                  'loaded': sorted(m for m in ('ratchet', 'torch', 'transformers') if m in sys.modules)}))\n"
    )
    # -I: isolated, so neither the working tree's src/ nor PYTHONPATH is on the path (only the export folder is).
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=export, capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout)
    assert answer["loaded"] == []
    expected = predicted(sigmoid_bert, tmp_path)
    assert answer["sets"] == [json.loads(v) for v in expected["predicted_label"]]
    np.testing.assert_allclose(answer["probs"], expected[[f"prob_{label}" for label in LABELS]].to_numpy(), atol=1e-4)
