"""ratchet export: ONNX graphs and a reader without ratchet give the predictions ratchet.load gives."""

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
from ratchet.models.decision import Decision

LABELS = ["negative", "neutral", "positive"]
ROWS = synthetic_rows(40, seed=5)
# Entities, doubled spaces and wrapping quotes: the reader repairs texts as ratchet does.
TEXTS = [r["review"] for r in ROWS[:20]] + ['"it &amp; its   side effects"', "  caf\u00e9 \t works ", ""]


def transformer_folder(tiny_model_dir, root: Path, family: str, *, text_pair: bool = False) -> Path:
    meta = {"max_length": 24, "text_pair": text_pair}
    folder = sharp_classifier_folder(tiny_model_dir(family), root / family, LABELS, meta)
    Decision(1.7, (0.3, -0.2, 0.0)).save(folder)
    return folder


def linear_folder(root: Path) -> Path:
    from ratchet.models.linear import LinearTextModel
    from ratchet.models.linear_folder import save_linear

    texts = [r["review"] for r in synthetic_rows(120, seed=1)]
    y = np.array([LABELS.index(r["sentiment"]) for r in synthetic_rows(120, seed=1)])
    save_linear(LinearTextModel().fit(texts, y, 3), LABELS, root / "linear", {})
    Decision(0.8, None).save(root / "linear")
    return root / "linear"


def assert_same_predictions(folder: Path, export: Path, pairs: list[str] | None = None, atol: float = 1e-5) -> None:
    expected = ratchet.load(folder)
    exported = open_export(export)
    np.testing.assert_allclose(exported.predict_proba(TEXTS, pairs), expected.predict_proba(TEXTS, pairs), atol=atol)
    assert exported.predict(TEXTS, pairs) == list(expected.predict(TEXTS, pairs))
    assert exported.labels == LABELS


@pytest.mark.parametrize("family", ["bert", "sbert", "gpt2", "t5"])
def test_each_family_exports_to_one_graph_that_predicts_as_ratchet_does(tiny_model_dir, tmp_path, family) -> None:
    folder = transformer_folder(tiny_model_dir, tmp_path, family)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["model"]["kind"] == "onnx" and (export / spec["model"]["graph"]).is_file()
    assert not list(export.rglob("*.safetensors")) and not list(export.rglob("*.bin"))  # the graph holds the weights
    # BERT-like encoders run onnxruntime's fused attention (export/fusion.py); the others keep the plain graph.
    fused = spec["model"]["fused"]
    assert (fused or {}).get("Attention") == (2 if family in ("bert", "sbert") else None), fused
    assert_same_predictions(folder, export)


def test_the_readme_snippet_runs_with_onnxruntime_alone(tiny_model_dir, tmp_path) -> None:
    folder = transformer_folder(tiny_model_dir, tmp_path, "bert")
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    readme = (export / "README.md").read_text()
    snippet = re.search(r"## One graph with onnxruntime alone.*?```python\n(.*?)```", readme, re.S).group(1)
    code = snippet + "\nimport json\nprint(json.dumps(probabilities.tolist()))\n"
    # A fresh interpreter without ratchet on its path: only onnxruntime, numpy and tokenizers.
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=export, capture_output=True, text=True, check=True)
    probabilities = np.array(json.loads(done.stdout))
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    from ratchet.predictor import load_predictor

    raw = load_predictor(folder).base.predict_probs(["some text", "another one"])  # before calibration
    np.testing.assert_allclose(probabilities, raw, atol=1e-5)


def test_a_pair_model_gets_its_segment_ids(tiny_model_dir, tmp_path) -> None:
    folder = transformer_folder(tiny_model_dir, tmp_path, "bert", text_pair=True)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    assert "token_type_ids" in json.loads((export / "export.json").read_text())["model"]["inputs"]
    assert_same_predictions(folder, export, pairs=[f"second {i}" for i in range(len(TEXTS))])


def test_the_tfidf_baseline_exports_as_arrays_the_reader_reproduces(tmp_path) -> None:
    folder = linear_folder(tmp_path)
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    assert (export / "model" / "arrays.npz").is_file() and not list(export.rglob("*.onnx"))
    assert_same_predictions(folder, export, atol=1e-6)


def test_an_ensemble_of_a_fine_tune_and_the_baseline_exports_with_its_weights(tiny_model_dir, tmp_path) -> None:
    from ratchet.models.ensemble import save_ensemble

    members = [transformer_folder(tiny_model_dir, tmp_path, "sbert"), linear_folder(tmp_path)]
    save_ensemble(members, tmp_path / "blend", weights=[0.3, 0.7])
    Decision(1.2, (0.0, 0.5, -0.1)).save(tmp_path / "blend")
    export = tmp_path / "export"
    assert main(["export", str(tmp_path / "blend"), "--out", str(export)]) == 0
    tree = json.loads((export / "export.json").read_text())["model"]
    assert tree["kind"] == "ensemble" and tree["weights"] == [0.3, 0.7]
    assert [m["kind"] for m in tree["members"]] == ["onnx", "linear"]
    assert_same_predictions(tmp_path / "blend", export)


def test_an_embedding_model_exports_its_head_inside_the_graph(tiny_model_dir, tmp_path) -> None:
    from ratchet.models.embedding_model import EmbeddingHead, save_embedding_model
    from ratchet.relabel.features import embed

    backbone = str(tiny_model_dir("bert"))
    texts = [r["review"] for r in synthetic_rows(90, seed=2)]
    y = np.array([LABELS.index(r["sentiment"]) for r in synthetic_rows(90, seed=2)])
    head = EmbeddingHead.fit(embed(backbone, texts, max_length=24), y, 3, C=1.0)
    save_embedding_model(head, backbone, 24, LABELS, tmp_path / "embedding", {})
    export = tmp_path / "export"
    assert main(["export", str(tmp_path / "embedding"), "--out", str(export)]) == 0
    assert_same_predictions(tmp_path / "embedding", export, atol=1e-4)


def test_int8_quantization_shrinks_the_graph_and_keeps_its_decisions(sbert_run, tmp_path) -> None:
    run, _ = sbert_run  # a trained tiny model: its margins, not a random head's, decide the agreement
    assert main(["export", str(run), "--out", str(tmp_path / "fp32")]) == 0
    assert main(["export", str(run), "--quantize", "int8", "--out", str(tmp_path / "int8")]) == 0
    fp32, int8 = next((tmp_path / "fp32").rglob("*.onnx")), next((tmp_path / "int8").rglob("*.onnx"))
    # Tiny models: the embedding matrix, which dynamic quantization leaves in fp32, is most of the graph.
    assert int8.name == "model.int8.onnx" and int8.stat().st_size < 0.7 * fp32.stat().st_size
    # Weights are scaled per output channel (one scale per column), not one scale per matrix.
    import onnx

    scales = [tensor for tensor in onnx.load(str(int8)).graph.initializer if tensor.name.endswith("_scale")]
    assert scales and all(len(tensor.dims) == 1 and tensor.dims[0] > 1 for tensor in scales if tensor.dims)
    assert any(tensor.dims for tensor in scales)
    many = [r["review"] for r in synthetic_rows(300, seed=7)]
    close = open_export(tmp_path / "int8").predict_proba(many)
    exact = open_export(tmp_path / "fp32").predict_proba(many)
    assert np.abs(close - exact).max() < 0.1 and not np.array_equal(close, exact)
    assert (close.argmax(1) == exact.argmax(1)).mean() >= 0.98


def test_export_refuses_what_it_cannot_do_in_one_line(tiny_model_dir, tmp_path, capsys) -> None:
    folder = linear_folder(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    assert main(["export", str(folder), "--out", str(tmp_path / "taken")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "run folder not found" in capsys.readouterr().err
    assert main(["export", str(folder), "--out", str(folder / "inside")]) == 2
    assert "inside the model folder" in capsys.readouterr().err
    assert main(["export", str(folder), "--out", str(tmp_path / "taken"), "--overwrite"]) == 0
    assert not (tmp_path / "taken" / "keep.txt").exists() and (tmp_path / "taken" / "export.json").is_file()
