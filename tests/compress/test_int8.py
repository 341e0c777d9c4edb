"""int8 folders: safetensors only, loaded back to the very model that was quantized, refused by the Auto classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ratchet_testing import sharp_classifier_folder, synthetic_rows

import ratchet
from ratchet.compress.int8 import WEIGHTS_FILE, load_int8, quantize, quantize_folder
from ratchet.models.load import load_classifier
from ratchet.predictor import TransformerPredictor

LABELS = ["negative", "neutral", "positive"]
TEXTS = [r["review"] for r in synthetic_rows(30, seed=4)]


def fp32_folder(tiny_model_dir, root: Path, family: str) -> Path:
    meta = {"max_length": 24, "text_pair": False, "backbone": family}
    return sharp_classifier_folder(tiny_model_dir(family), root / family, LABELS, meta)


@pytest.mark.parametrize("family", ["bert", "sbert", "t5"])
def test_int8_folder_round_trip_is_exact(tiny_model_dir, tmp_path: Path, family: str) -> None:
    source = fp32_folder(tiny_model_dir, tmp_path, family)
    quantize_folder(source, tmp_path / "int8")
    # The model as quantized in memory, and as read back from its folder, give the same probabilities.
    model, tokenizer, _, meta = load_classifier(source)
    in_memory = TransformerPredictor(quantize(model), tokenizer, LABELS, meta)
    loaded = ratchet.load(tmp_path / "int8")
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), in_memory.predict_probs(TEXTS))
    # Quantized, not a copy: the probabilities moved a little from fp32, and decisions mostly agree.
    fp32 = ratchet.load(source).predict_proba(TEXTS)
    int8 = loaded.predict_proba(TEXTS)
    moved = np.abs(int8 - fp32)
    assert moved.max() > 0 and moved.mean() < 0.05  # a row near a tie may move more (0.21 seen once on T5)
    assert (int8.argmax(1) == fp32.argmax(1)).mean() >= 0.9
    assert list(loaded.classes_) == LABELS
    # Linear layers of the encoder hold int8 weights; the head stays fp32.
    quantized, *_ = load_int8(tmp_path / "int8")
    kinds = {type(m).__module__ for m in quantized.modules()}
    assert any("quantized.dynamic" in k for k in kinds)
    assert not list((tmp_path / "int8").rglob("*.bin")) and (tmp_path / "int8" / WEIGHTS_FILE).is_file()


def test_auto_classes_refuse_an_int8_folder(tiny_model_dir, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    quantize_folder(fp32_folder(tiny_model_dir, tmp_path, "bert"), tmp_path / "int8")
    with pytest.raises(Exception, match=r"ratchet\.load"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "int8")


def test_damaged_int8_weights_are_one_line(tiny_model_dir, tmp_path: Path) -> None:
    from ratchet.errors import RatchetError

    quantize_folder(fp32_folder(tiny_model_dir, tmp_path, "bert"), tmp_path / "int8")
    (tmp_path / "int8" / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(RatchetError, match="damaged"):
        ratchet.load(tmp_path / "int8").predict(TEXTS[:2])


def test_an_int8_folder_exports_to_onnx_int8_and_explains(tiny_model_dir, tmp_path: Path) -> None:
    from ratchet.export import open_export
    from ratchet.export.exporter import export_model

    source = fp32_folder(tiny_model_dir, tmp_path, "bert")
    quantize_folder(source, tmp_path / "int8")
    model = ratchet.load(tmp_path / "int8")
    export_model(tmp_path / "int8", tmp_path / "onnx")
    assert [p.name for p in (tmp_path / "onnx").rglob("*.onnx")] == ["model.int8.onnx"]  # stays an int8 model
    exported = open_export(tmp_path / "onnx").predict_proba(TEXTS, None)
    # The graph holds the same int8 weights; both runtimes round activations their own way: close, not equal.
    np.testing.assert_allclose(exported, model.predict_proba(TEXTS), atol=0.05)
    assert (exported.argmax(1) == model.predict_proba(TEXTS).argmax(1)).mean() >= 0.9
    # Explanations go through the same weights in float (int8 kernels have no gradients).
    explained = model.explain(TEXTS[:2], steps=16)
    assert [e["words"] for e in explained] == [t.split() for t in TEXTS[:2]]
    assert all(len(e["scores"]) == len(e["words"]) and np.isfinite(e["scores"]).all() for e in explained)


def test_weights_are_scaled_per_channel_and_older_per_tensor_folders_still_load(tiny_model_dir, tmp_path) -> None:
    import warnings

    import torch
    from safetensors.torch import load_file

    from ratchet.compress.int8 import _encoder_attr, save_int8

    source = fp32_folder(tiny_model_dir, tmp_path, "bert")
    quantize_folder(source, tmp_path / "int8")
    stored = load_file(str(tmp_path / "int8" / WEIGHTS_FILE))
    weights = {k[: -len(".int8_weight")]: v for k, v in stored.items() if k.endswith(".int8_weight")}
    assert weights
    for name, values in weights.items():  # one scale and zero point per output row, along axis 0
        assert stored[name + ".int8_scale"].shape == (values.shape[0],) and values.shape[0] > 1
        assert stored[name + ".int8_axis"].tolist() == [0]
    # A folder written with one scale per tensor (before per-channel scales) loads back to that very model.
    model, tokenizer, _, meta = load_classifier(source)
    attr = _encoder_attr(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = torch.ao.quantization.quantize_dynamic(getattr(model, attr), {torch.nn.Linear}, dtype=torch.qint8)
    setattr(model, attr, encoder)
    save_int8(model.eval(), tokenizer, LABELS, tmp_path / "older", meta)
    older = load_file(str(tmp_path / "older" / WEIGHTS_FILE))
    assert not any(k.endswith(".int8_axis") for k in older)
    expected = TransformerPredictor(model, tokenizer, LABELS, meta).predict_probs(TEXTS)
    np.testing.assert_array_equal(ratchet.load(tmp_path / "older").predict_proba(TEXTS), expected)
