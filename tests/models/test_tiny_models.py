import numpy as np
import pytest
from transformers import AutoTokenizer

from ratchet.models.tiny import build_tiny_model, toy_dataset


def test_toy_dataset_is_separable_and_seeded():
    texts, labels = toy_dataset(50, seed=3)
    again, _ = toy_dataset(50, seed=3)
    assert texts == again
    for text, label in zip(texts, labels, strict=True):
        assert ("good" in text.split()) == (label == 1)
    assert set(np.unique(labels)) == {0, 1}


@pytest.mark.parametrize(
    ("family", "specials"),
    [
        ("bert", {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}),
        ("gpt2", {"eos_token": "<|endoftext|>"}),
        ("t5", {"pad_token": "<pad>", "eos_token": "</s>"}),
    ],
)
def test_tokenizer_loads_back_fast_with_special_tokens(tiny_dirs, family, specials):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs[family])
    assert tokenizer.is_fast
    for name, value in specials.items():
        assert getattr(tokenizer, name) == value
    ids = tokenizer("this drug was good")["input_ids"]
    if family == "bert":
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    if family == "t5":
        assert ids[-1] == tokenizer.eos_token_id and ids.count(tokenizer.eos_token_id) == 1


def test_tiny_model_is_tiny_and_seeded(tmp_path):
    from transformers import AutoModel

    texts, _ = toy_dataset(40)
    a = AutoModel.from_pretrained(build_tiny_model("bert", texts, tmp_path / "a", seed=1))
    b = AutoModel.from_pretrained(build_tiny_model("bert", texts, tmp_path / "b", seed=1))
    assert a.config.hidden_size == 32 and a.config.num_hidden_layers == 2
    assert sum(p.numel() for p in a.parameters()) < 100_000
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert (pa == pb).all(), name
