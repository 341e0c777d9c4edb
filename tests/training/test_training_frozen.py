"""Frozen lower layers: the top learns from cached states, the bottom stays pretrained, the cache is shared."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ratchet.config import TrainParams
from ratchet.training.frozen import StateCache, freeze_bottom
from ratchet.training.inference import predict_probs
from ratchet.training.loop import fit

FAST = {"learning_rate": 3e-3, "min_steps": 0, "batch_size": 16, "max_tokens": 512, "max_length": 64, "patience": 10}


def bottom_weights(model) -> dict[str, torch.Tensor]:
    base = model.encoder if hasattr(model, "classifier") and hasattr(model, "encoder") else model.base_model
    layer0 = base.encoder.layer[0]
    return {k: v.detach().clone() for k, v in [*base.embeddings.state_dict().items(), *layer0.state_dict().items()]}


@pytest.mark.parametrize("family", ["bert", "sbert"])
def test_the_view_from_cached_states_equals_the_whole_model(task, family) -> None:
    t = task(family)
    model = t["model"].eval()
    cache = StateCache(1)
    frozen = freeze_bottom(model, 1, cache)
    assert frozen is not None
    frozen.fill(t["valid"], torch.device("cpu"), t["pad_id"])
    assert len(cache.states) == len({frozen.cache.key(t["valid"], i) for i in range(len(t["valid"]))})
    whole = predict_probs(model, t["valid"], device="cpu", pad_id=t["pad_id"])
    view = predict_probs(frozen.view, t["valid"], device="cpu", pad_id=t["pad_id"], batch_fn=frozen.collate)
    np.testing.assert_allclose(view, whole, atol=2e-3)  # the cache holds float16 states
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not any("embeddings" in n or ".layer.0." in n for n in trainable)


def test_a_fit_trains_the_top_only_and_a_second_fit_reuses_the_states(task, tmp_path) -> None:
    t = task("sbert")
    before = bottom_weights(t["model"])
    cache = StateCache(1)
    params = TrainParams(**FAST, epochs=4.0, frozen_layers=1)
    result = fit(t["model"], t["train"], t["train_labels"], t["valid"], t["valid_labels"], params, device="cpu",
                 seed=0, checkpoint_dir=tmp_path / "a", pad_id=t["pad_id"], frozen_cache=cache)  # fmt: skip
    assert result.best_score >= 0.9
    after = bottom_weights(t["model"])
    assert all(torch.equal(before[k], after[k]) for k in before)  # the frozen layers never moved
    filled = len(cache.states)
    texts = [StateCache.key(t[name], i) for name in ("train", "valid") for i in range(len(t[name]))]
    assert filled == len(set(texts))  # one cached state per distinct token sequence of train and valid
    again = task("sbert")
    fit(again["model"], again["train"], again["train_labels"], again["valid"], again["valid_labels"], params,
        device="cpu", seed=0, checkpoint_dir=tmp_path / "b", pad_id=again["pad_id"], frozen_cache=cache)  # fmt: skip
    assert len(cache.states) == filled  # the same texts: nothing computed twice
    # The whole model predicts as the trained view did: what ships needs no cache.
    whole = predict_probs(t["model"], t["valid"], device="cpu", pad_id=t["pad_id"])
    np.testing.assert_allclose(whole, result.valid_probs, atol=2e-3)


def test_models_that_are_not_bert_style_train_every_layer(task) -> None:
    assert freeze_bottom(task("gpt2")["model"], 1, None) is None
    assert freeze_bottom(task("bert")["model"], 99, None) is None  # nothing would be left to train


def test_filling_the_cache_runs_only_the_frozen_layers(task) -> None:
    t = task("bert")
    model = t["model"].eval()
    frozen = freeze_bottom(model, 1, StateCache(1))
    assert frozen is not None
    base = model.base_model
    calls = {i: 0 for i in range(len(base.encoder.layer))}
    for i, layer in enumerate(base.encoder.layer):
        layer.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    frozen.fill(t["valid"], torch.device("cpu"), t["pad_id"])
    assert calls[0] > 0  # the frozen layer computed the states
    assert all(calls[i] == 0 for i in range(1, len(calls)))  # nothing above the cut ran
    # And the cached states are exactly what the whole encoder has after the cut.
    row = 0
    inputs = {k: v[:1] for k, v in _one_row(t, row).items()}
    with torch.inference_mode():
        expected = base(**inputs, output_hidden_states=True).hidden_states[1][0]
    cached = frozen.cache.states[frozen.cache.key(t["valid"], row)].float()
    torch.testing.assert_close(cached, expected[: cached.shape[0]], atol=2e-3, rtol=2e-3)


def _one_row(t, row: int) -> dict[str, torch.Tensor]:
    from ratchet.training.batching import collate

    return collate(t["valid"], np.asarray([row]), t["pad_id"], 1)
