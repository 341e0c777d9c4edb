import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ratchet.errors import RatchetError
from ratchet.models.load import load_classifier, load_for_classification, save_classifier
from ratchet.models.source import resolve_model_path
from ratchet.training.encode import encode
from ratchet.training.inference import predict_probs


def test_resolve_default_is_the_bundled_minilm():
    path = Path(resolve_model_path("default"))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()


def test_resolve_local_folder_is_itself(tmp_path):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)


def test_missing_folder_and_unknown_hub_name_are_ratchet_errors(monkeypatch):
    with pytest.raises(RatchetError, match="does not exist"):
        resolve_model_path("./no/such/folder")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RatchetError, match="not found locally or in the Hugging Face cache"):
        load_for_classification("no-such-org/no-such-model-ratchet", ["a", "b"])


@pytest.mark.parametrize("family", ["bert", "sbert", "gpt2", "t5"])
def test_load_for_classification_sets_labels_and_pad(tiny_dirs, family):
    model, tokenizer = load_for_classification(str(tiny_dirs[family]), ["neg", "pos", "neutral"], dropout=0.0)
    assert model.config.num_labels == 3
    assert model.config.id2label == {0: "neg", 1: "pos", 2: "neutral"}
    assert model.config.label2id["pos"] == 1
    assert tokenizer.pad_token_id is not None and model.config.pad_token_id == tokenizer.pad_token_id
    assert model.config._attn_implementation == "sdpa"
    dropouts = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(p == 0.0 for p in dropouts)


def test_fewer_than_two_labels_is_an_error(tiny_dirs):
    with pytest.raises(RatchetError, match="at least 2 labels"):
        load_for_classification(str(tiny_dirs["bert"]), ["only"])


@pytest.mark.parametrize("family", ["bert", "sbert", "gpt2", "t5"])
def test_save_load_round_trip_predicts_identically(tiny_dirs, toy, tmp_path, family):
    texts, _ = toy
    torch.manual_seed(0)
    model, tokenizer = load_for_classification(str(tiny_dirs[family]), [1, 5, 10])
    model.eval()
    encoded = encode(tokenizer, texts[:20], None, 32)
    before = predict_probs(model, encoded, device="cpu", pad_id=tokenizer.pad_token_id)
    meta = {"max_length": 32, "text_pair": False}
    save_classifier(model, tokenizer, [1, 5, 10], tmp_path / "model", meta)

    model2, tokenizer2, labels, meta2 = load_classifier(tmp_path / "model")
    assert labels == [1, 5, 10]
    assert meta2 == {"kind": "transformer", **meta, "head": "mean" if family == "sbert" else "model"}
    assert json.loads((tmp_path / "model" / "labels.json").read_text())["kind"] == "int"
    assert not model2.training
    encoded2 = encode(tokenizer2, texts[:20], None, 32)
    assert all((a == b).all() for a, b in zip(encoded.input_ids, encoded2.input_ids, strict=True))
    after = predict_probs(model2, encoded2, device="cpu", pad_id=tokenizer2.pad_token_id)
    np.testing.assert_array_equal(before, after)
    assert not list(tmp_path.glob(".model*")), "no temp folder left behind"


def test_load_classifier_rejects_other_folders(tiny_dirs):
    with pytest.raises(RatchetError, match="not a ratchet model folder"):
        load_classifier(tiny_dirs["bert"])


def test_models_without_sdpa_fall_back_to_their_default_attention(tiny_dirs, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    original = AutoModelForSequenceClassification.from_pretrained
    calls = []

    def no_sdpa(path, **kwargs):
        calls.append(kwargs.get("attn_implementation"))
        if kwargs.get("attn_implementation") == "sdpa":
            raise ValueError("XForSequenceClassification does not support an attention implementation through "
                             "torch.nn.functional.scaled_dot_product_attention yet.")  # fmt: skip
        return original(path, **kwargs)

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", no_sdpa)
    model, _ = load_for_classification(str(tiny_dirs["bert"]), ["a", "b"])
    assert calls == ["sdpa", None] and model.config.num_labels == 2
