"""Vocabulary extension: adds the uncovered units, keeps every existing id, survives save and reload."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ratchet.adaptation.mlm import load_lm, save_backbone
from ratchet.adaptation.vocab import extend_vocabulary, measure_coverage, plan_extension
from ratchet.models.load import load_classifier, load_for_classification, save_classifier
from ratchet.training.encode import encode
from ratchet.training.inference import predict_probs

OLD_TEXT = "the drug was great and it helped"
NEW_TEXTS = ["ibuprofen helped 很好", "ibuprofen was 很差 the drug", "ibuprofen 很好 great"] * 2


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_extension_adds_tokens_and_preserves_existing_ids(family, tiny_model_dir) -> None:
    objective = "mlm" if family == "bert" else "clm"
    model, tok = load_lm(str(tiny_model_dir(family)), objective)
    old_vocab = dict(tok.get_vocab())
    old_ids = tok(OLD_TEXT)["input_ids"]
    old_rows = model.get_input_embeddings().weight.detach().clone()
    before = measure_coverage(tok, NEW_TEXTS)
    tokens = plan_extension(before, max_new=10, min_count=3)
    assert {"ibuprofen", "很", "好"} <= set(tokens)
    pieces = tok("ibuprofen", add_special_tokens=False)["input_ids"]

    report = extend_vocabulary(model, tok, tokens)

    assert report["tokens_added"] == len(tokens) == len(tok) - len(old_vocab)
    assert {k: v for k, v in tok.get_vocab().items() if k in old_vocab} == old_vocab
    assert tok(OLD_TEXT)["input_ids"] == old_ids  # text without new units tokenizes exactly as before
    emb = model.get_input_embeddings().weight.detach()
    assert emb.shape[0] == len(tok)
    assert torch.equal(emb[: len(old_rows)], old_rows)  # old rows untouched
    word_id = tok.convert_tokens_to_ids("ibuprofen")
    assert word_id >= len(old_vocab)
    useful = [i for i in pieces if i != tok.unk_token_id]
    torch.testing.assert_close(emb[word_id], old_rows[useful].mean(0))  # mean of its old pieces
    ids = tok(NEW_TEXTS[0], add_special_tokens=False)["input_ids"]
    assert word_id in ids and tok.convert_tokens_to_ids("很") in ids
    assert tok.unk_token_id not in ids or family == "gpt2"
    after = measure_coverage(tok, NEW_TEXTS)
    assert after.coverage > before.coverage and after.uncovered.keys().isdisjoint(tokens)
    # A word is added as a whole word only: a longer word containing it keeps its old pieces.
    assert word_id not in tok("ibuprofens", add_special_tokens=False)["input_ids"]


def test_tokens_without_known_pieces_start_as_distinct_typical_embeddings(tiny_model_dir) -> None:
    chars = [chr(0x4E00 + i) for i in range(400)]  # 400 CJK characters the tiny vocabulary maps to [UNK]
    model, tok = load_lm(str(tiny_model_dir("bert")), "mlm")
    old = model.get_input_embeddings().weight.detach().clone()
    report = extend_vocabulary(model, tok, chars, seed=5)
    assert report == {"tokens_added": 400, "from_pieces": 0, "from_cooccurrence": 0,
                      "cooccurrence_anchors": 0, "sampled": 400,
                      "vocab_before": 300, "vocab_after": 700}  # fmt: skip
    new = model.get_input_embeddings().weight.detach()[300:]
    distances = torch.cdist(new, new)
    typical = torch.cdist(old[5:], old[5:]).median()
    assert distances.add(torch.eye(400) * 1e9).min() > 0.3 * typical  # no two characters start alike
    # Drawn from the existing embeddings' distribution: same mean and spread (up to sampling error).
    assert (new.mean(0) - old.mean(0)).abs().max() < 4 * old.std(0).max() / 400**0.5
    torch.testing.assert_close(new.std(0).mean(), old.std(0).mean(), rtol=0.15, atol=0)
    again, tok2 = load_lm(str(tiny_model_dir("bert")), "mlm")
    extend_vocabulary(again, tok2, chars, seed=5)
    assert torch.equal(again.get_input_embeddings().weight.detach()[300:], new)  # seeded: a resume rebuilds them


def test_extended_checkpoint_saves_reloads_and_predicts_identically(tiny_model_dir, tmp_path) -> None:
    original = str(tiny_model_dir("bert"))
    model, tok = load_lm(original, "mlm")
    extend_vocabulary(model, tok, ["ibuprofen", "很", "好", "差"])
    with torch.no_grad():  # make the new rows distinctive, as pretraining would
        model.get_input_embeddings().weight[300:] += 0.5
    adapted = tmp_path / "adapted"
    save_backbone(model, tok, original, adapted)

    torch.manual_seed(0)
    classifier, ctok = load_for_classification(str(adapted), ["neg", "pos"])
    assert len(ctok) == 304
    torch.testing.assert_close(
        classifier.get_input_embeddings().weight[300:], model.get_input_embeddings().weight[300:].detach()
    )
    save_classifier(classifier, ctok, ["neg", "pos"], tmp_path / "model", {"max_length": 32})
    loaded, ltok, labels, _ = load_classifier(tmp_path / "model")
    assert labels == ["neg", "pos"]
    assert ltok(NEW_TEXTS)["input_ids"] == ctok(NEW_TEXTS)["input_ids"]
    first = predict_probs(classifier, encode(ctok, NEW_TEXTS, None, 32), device="cpu")
    second = predict_probs(loaded, encode(ltok, NEW_TEXTS, None, 32), device="cpu")
    np.testing.assert_array_equal(first, second)
