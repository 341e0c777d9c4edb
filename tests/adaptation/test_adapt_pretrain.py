"""Continued pretraining: masked and causal LM lower held-out loss; masking rules; exact resume after a kill."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
from transformers import AutoConfig

from ratchet.adaptation.lmdata import mask_tokens
from ratchet.adaptation.mlm import choose_objective, lm_forward, load_lm, pretrain
from ratchet.config import AdaptParams

FAST = AdaptParams(epochs=3, learning_rate=5e-3, max_length=32, max_tokens=512, batch_size=16)


@pytest.mark.parametrize(("family", "objective"), [("bert", "mlm"), ("gpt2", "clm")])
def test_pretraining_lowers_heldout_lm_loss(family, objective, tiny_model_dir, corpus_texts, tmp_path) -> None:
    path = str(tiny_model_dir(family))
    assert choose_objective(AutoConfig.from_pretrained(path))[0] == objective
    model, tok = load_lm(path, objective)
    texts, heldout = corpus_texts[:120], corpus_texts[270:]
    result = pretrain(model, tok, texts, heldout, objective=objective, params=FAST, device="cpu", seed=0,
                      checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    assert result.steps == result.total_steps > 0 and not result.stopped_by_deadline
    assert result.heldout_loss_after < result.heldout_loss_before - 0.5
    assert result.loss_curve[-1]["step"] == result.steps
    assert result.loss_curve[-1]["loss"] < result.loss_curve[0]["loss"]
    assert (tmp_path / "ckpt" / "state.pt").is_file()


def test_masked_positions_only_head_equals_the_full_forward(tiny_model_dir) -> None:
    model, _ = load_lm(str(tiny_model_dir("bert")), "mlm")
    model.eval()
    ids = torch.randint(5, 300, (4, 12), generator=torch.Generator().manual_seed(0))
    labels = ids.masked_fill(torch.rand(4, 12, generator=torch.Generator().manual_seed(1)) > 0.3, -100)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    with torch.no_grad():
        torch.testing.assert_close(lm_forward(model, batch, "mlm"), model(**batch).loss)


def test_whole_word_masking_masks_words_together_and_never_specials() -> None:
    ids = torch.arange(100, 140).reshape(2, 20)
    words = torch.arange(20).div(2, rounding_mode="floor").repeat(2, 1)  # every word is two tokens
    words[:, 0] = -1  # a [CLS]-like special token
    maskable = words >= 0
    inputs, labels = mask_tokens(ids, maskable, words, probability=0.4, mask_id=1, vocab_size=50,
                                 generator=torch.Generator().manual_seed(0))  # fmt: skip
    chosen = labels != -100
    assert chosen.any() and not chosen[:, 0].any()
    for row in range(2):
        for word in range(1, 10):
            both = chosen[row, 2 * word : 2 * word + 2]
            assert bool(both.all()) or not bool(both.any())
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen tokens are never altered


def test_token_masking_rate_and_replacement_mix() -> None:
    ids = torch.randint(10, 60, (64, 64), generator=torch.Generator().manual_seed(1))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    inputs, labels = mask_tokens(ids, maskable, None, probability=0.15, mask_id=3, vocab_size=60,
                                 generator=torch.Generator().manual_seed(2))  # fmt: skip
    chosen = labels != -100
    assert 0.12 < chosen.float().mean() < 0.18
    assert 0.74 < (inputs[chosen] == 3).float().mean() < 0.86
    assert not (inputs[~chosen] == 3).any()


def test_encoder_decoder_is_skipped_with_a_reason(tiny_model_dir) -> None:
    objective, why = choose_objective(AutoConfig.from_pretrained(tiny_model_dir("t5")))
    assert objective is None and "span-corruption" in why


class Killed(Exception):
    pass


class KillAt:
    """A progress object whose bar raises at a given step, like a SIGKILL between checkpoints."""

    def __init__(self, step: int) -> None:
        self.step, self.seen = step, 0

    @contextmanager
    def bar(self, description, total, **fields):
        yield self

    def advance(self, n=1, **fields) -> None:
        self.seen += n
        if self.seen >= self.step:
            raise Killed

    def update(self, *args, **fields) -> None:
        pass


def test_a_killed_pretraining_resumes_to_the_same_weights(tiny_model_dir, corpus_texts, tmp_path) -> None:
    path = str(tiny_model_dir("bert"))
    params = AdaptParams(epochs=1, learning_rate=3e-3, max_length=32, max_tokens=256, batch_size=8,
                         whole_word_masking=True)  # fmt: skip
    texts, heldout = corpus_texts[:80], corpus_texts[280:]
    run = dict(objective="mlm", params=params, device="cpu", seed=3, checkpoint_every=2)

    model, tok = load_lm(path, "mlm")
    whole = pretrain(model, tok, texts, heldout, checkpoint_dir=tmp_path / "a", **run)
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    model, tok = load_lm(path, "mlm")
    with pytest.raises(Killed):
        pretrain(model, tok, texts, heldout, checkpoint_dir=tmp_path / "b", progress=KillAt(5), **run)
    model, tok = load_lm(path, "mlm")
    resumed = pretrain(model, tok, texts, heldout, checkpoint_dir=tmp_path / "b", **run)

    assert resumed.resumed_at == 4 and resumed.steps == whole.steps > 5
    assert resumed.loss_curve == whole.loss_curve
    assert resumed.heldout_loss_before == whole.heldout_loss_before
    assert resumed.heldout_loss_after == whole.heldout_loss_after
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_a_passed_deadline_stops_before_training_and_leaves_a_checkpoint(tiny_model_dir, corpus_texts, tmp_path):
    model, tok = load_lm(str(tiny_model_dir("gpt2")), "clm")
    result = pretrain(model, tok, corpus_texts[:40], corpus_texts[290:], objective="clm", params=FAST,
                      device="cpu", seed=0, checkpoint_dir=tmp_path, deadline=0.0)  # fmt: skip
    assert result.stopped_by_deadline and result.steps == 0 < result.total_steps
    assert result.heldout_loss_after == pytest.approx(result.heldout_loss_before)
    assert (tmp_path / "state.pt").is_file()
