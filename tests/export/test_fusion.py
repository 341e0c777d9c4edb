"""Fused attention in exported graphs: used only where it predicts what the plain graph does (that BERT-like
encoders are fused, and the other families are not, is checked in test_onnx_export.py)."""

from __future__ import annotations

import json

from test_onnx_export import assert_same_predictions, transformer_folder

from ratchet.cli import main
from ratchet.export import fusion


def _export(tiny_model_dir, tmp_path) -> dict:
    folder = transformer_folder(tiny_model_dir, tmp_path, "bert")
    assert main(["export", str(folder), "--out", str(tmp_path / "export")]) == 0
    assert_same_predictions(folder, tmp_path / "export")
    assert not list((tmp_path / "export").rglob("*.fused.onnx"))  # the rejected rewrite leaves nothing behind
    return json.loads((tmp_path / "export" / "export.json").read_text())["model"]


def test_a_rewrite_that_changes_the_probabilities_keeps_the_plain_graph(tiny_model_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fusion, "PARITY", -1.0)  # no rewrite can be that close: treated as a mismatch
    assert _export(tiny_model_dir, tmp_path)["fused"] is None


def test_an_optimizer_that_fails_keeps_the_plain_graph(tiny_model_dir, tmp_path, monkeypatch) -> None:
    import onnxruntime.transformers.optimizer as optimizer

    def broken(*args, **kwargs):
        raise ValueError("cannot handle this graph")

    monkeypatch.setattr(optimizer, "optimize_model", broken)
    assert _export(tiny_model_dir, tmp_path)["fused"] is None
