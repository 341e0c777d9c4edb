"""The mean-pooling head that sentence-embedding checkpoints (the default model among them) are classified with."""

import json
import shutil

import numpy as np
import pytest
import torch

from ratchet.models.load import head_for, load_classifier, load_for_classification, save_classifier
from ratchet.models.pooled import MeanPoolingClassifier, copy_sentence_files, sentence_pooling
from ratchet.models.source import resolve_model_path
from ratchet.training.encode import encode
from ratchet.training.inference import predict_probs


def test_sentence_transformers_folders_get_the_mean_head_and_others_keep_their_own(tiny_dirs):
    assert sentence_pooling(tiny_dirs["sbert"]) == "mean" and sentence_pooling(tiny_dirs["bert"]) is None
    assert head_for(resolve_model_path("default")) == "mean"  # all-MiniLM-L6-v2 was trained with mean pooling
    pooled, _ = load_for_classification(str(tiny_dirs["sbert"]), ["a", "b"])
    plain, _ = load_for_classification(str(tiny_dirs["bert"]), ["a", "b"])
    forced, _ = load_for_classification(str(tiny_dirs["sbert"]), ["a", "b"], head="model")
    assert isinstance(pooled, MeanPoolingClassifier) and pooled.classifier.out_features == 2
    assert not isinstance(plain, MeanPoolingClassifier) and not isinstance(forced, MeanPoolingClassifier)


def test_a_cls_pooling_module_is_not_mean_pooling(tiny_dirs, tmp_path):
    folder = shutil.copytree(tiny_dirs["sbert"], tmp_path / "cls")
    config = folder / "1_Pooling" / "config.json"
    config.write_text(json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert sentence_pooling(folder) is None and head_for(str(folder)) == "model"
    (folder / "modules.json").write_text("not json")
    assert sentence_pooling(folder) is None  # a broken modules.json is "no sentence pooling", not a crash


def test_padding_does_not_change_a_rows_prediction(tiny_dirs):
    torch.manual_seed(0)
    model, tok = load_for_classification(str(tiny_dirs["sbert"]), ["a", "b", "c"])
    model.eval()
    short = tok(["good pill"], return_tensors="pt")
    texts = ["good pill", "this drug made me feel really quite bad after a week"]
    batch = tok(texts, padding=True, return_tensors="pt")
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # the short row is padded
    with torch.no_grad():
        alone = model(**short).logits[0]
        padded = model(**batch).logits[0]
        unmasked = model(input_ids=short["input_ids"]).logits[0]  # the collator drops an all-ones mask
        hidden = model.encoder(**short)[0]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, unmasked)
    torch.testing.assert_close(alone, model.classifier(hidden.mean(dim=1))[0])  # it reads the mean token state


def test_the_mean_head_round_trips_and_reloads_as_a_backbone(tiny_dirs, toy, tmp_path):
    texts, _ = toy
    torch.manual_seed(1)
    model, tok = load_for_classification(str(tiny_dirs["sbert"]), ["x", "y"])
    with torch.no_grad():
        model.classifier.weight.add_(1.0)  # a head unlike any freshly drawn one
    encoded = encode(tok, texts[:16], None, 32)
    before = predict_probs(model, encoded, device="cpu", pad_id=tok.pad_token_id, bf16=False)
    save_classifier(model, tok, ["x", "y"], tmp_path / "model", {"max_length": 32})
    for name in ("encoder/model.safetensors", "encoder/tokenizer.json", "classifier/model.safetensors", "modules.json"):
        assert (tmp_path / "model" / name).is_file(), name
    loaded, ltok, labels, meta = load_classifier(tmp_path / "model")
    assert meta["head"] == "mean" and labels == ["x", "y"] and isinstance(loaded, MeanPoolingClassifier)
    encoded = encode(ltok, texts[:16], None, 32)
    after = predict_probs(loaded, encoded, device="cpu", pad_id=ltok.pad_token_id, bf16=False)
    np.testing.assert_array_equal(before, after)
    # A shipped model used as the next run's backbone keeps mean pooling (with a fresh head).
    again, _ = load_for_classification(str(tmp_path / "model"), ["x", "y", "z"])
    assert isinstance(again, MeanPoolingClassifier) and again.classifier.out_features == 3


def test_re_saved_encoders_keep_their_sentence_modules(tiny_dirs, tmp_path):
    from ratchet.adaptation.mlm import load_lm, save_backbone

    lm, tok = load_lm(str(tiny_dirs["sbert"]), "mlm")
    save_backbone(lm, tok, str(tiny_dirs["sbert"]), tmp_path / "adapted")  # what the adapt step ships
    assert sentence_pooling(tmp_path / "adapted") == "mean"
    adapted, _ = load_for_classification(str(tmp_path / "adapted"), ["a", "b"])
    assert isinstance(adapted, MeanPoolingClassifier)
    plain = tmp_path / "plain"
    plain.mkdir()
    copy_sentence_files(tiny_dirs["bert"], plain)
    assert not list(plain.iterdir())  # nothing to carry from a plain checkpoint


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_dropout_override_reaches_the_head(tiny_dirs, dropout):
    model, _ = load_for_classification(str(tiny_dirs["sbert"]), ["a", "b"], dropout=dropout)
    assert model.dropout.p == dropout
    assert all(m.p == dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_a_folder_written_before_the_sentence_layout_still_loads(tiny_dirs, toy, tmp_path):
    """Encoder checkpoint at the top and head.safetensors beside it: what earlier versions shipped."""
    from safetensors.torch import save_file

    texts, _ = toy
    torch.manual_seed(2)
    model, tok = load_for_classification(str(tiny_dirs["sbert"]), ["x", "y"])
    old = tmp_path / "old"
    model.encoder.save_pretrained(old)
    tok.save_pretrained(old)
    save_file({f"classifier.{k}": v.contiguous() for k, v in model.classifier.state_dict().items()},
              str(old / "head.safetensors"))  # fmt: skip
    (old / "labels.json").write_text(json.dumps({"labels": ["x", "y"], "kind": "str"}))
    (old / "ratchet.json").write_text(json.dumps({"kind": "transformer", "head": "mean", "max_length": 32}))
    loaded, ltok, _, _ = load_classifier(old)
    encoded = encode(tok, texts[:8], None, 32)
    np.testing.assert_array_equal(
        predict_probs(model.eval(), encoded, device="cpu", pad_id=tok.pad_token_id, bf16=False),
        predict_probs(loaded, encoded, device="cpu", pad_id=ltok.pad_token_id, bf16=False),
    )
