"""Windows cover every token of a document (and of its text pair), for BERT-, GPT-2- and T5-style tokenizers."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from ratchet_testing import FILLER, WORDS

from ratchet.chunking.windows import encode_windows, pair_spans, spans
from ratchet.training.encode import encode

VOCAB = FILLER + [w for words in WORDS.values() for w in words]


def long_text(n_words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n_words))


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory, corpus_texts):
    from ratchet.data.coverage import load_tokenizer
    from ratchet.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("window-tokenizers")
    return {f: load_tokenizer(str(build_tiny_model(f, corpus_texts, root / f, seed=0))) for f in ("bert", "gpt2", "t5")}


def content_of(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(("n", "room", "stride"), [(10, 4, 2), (10, 4, 0), (9, 4, 4), (7, 7, 3), (3, 8, 2), (11, 4, 9)])
def test_spans_cover_every_position_with_at_most_room_tokens(n: int, room: int, stride: int) -> None:
    found = spans(n, room, stride)
    covered = set().union(*(range(a, b) for a, b in found))
    assert covered == set(range(n))
    assert all(b - a <= room for a, b in found)
    assert found[-1][1] == n and found[0][0] == 0
    if n > room:  # every window is full, and consecutive starts are at most the stride apart
        assert all(b - a == room for a, b in found)
        step = stride if stride else room // 2
        assert all(0 < b[0] - a[0] <= min(step, room) for a, b in itertools.pairwise(found))


@pytest.mark.parametrize(("na", "nb", "room"), [(30, 3, 10), (3, 30, 10), (30, 25, 10), (4, 5, 10), (30, 5, 10)])
def test_pair_spans_cover_both_segments(na: int, nb: int, room: int) -> None:
    found = pair_spans(na, nb, room, 0)
    assert set().union(*(range(*a) for a, _ in found)) == set(range(na))
    assert set().union(*(range(*b) for _, b in found)) == set(range(nb))
    assert all((a[1] - a[0]) + (b[1] - b[0]) <= room for a, b in found)


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
@pytest.mark.parametrize("stride", [0, 5])
def test_windows_of_a_text_cover_every_token_and_fit_max_length(tokenizers, family: str, stride: int) -> None:
    tokenizer = tokenizers[family]
    texts = [long_text(60, seed=1), "great", long_text(25, seed=2)]
    max_length = 16
    windows = encode_windows(tokenizer, texts, None, max_length, stride)
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    special = set(tokenizer.all_special_ids)
    assert windows.encoded.lengths.max() <= max_length
    for doc, text in enumerate(texts):
        content = content_of(tokenizer, text)
        rows = np.flatnonzero(windows.doc == doc)
        expected = spans(len(content), room, stride)
        assert len(rows) == len(expected) == (1 if len(content) <= room else len(expected))
        for row, (a, b) in zip(rows, expected, strict=True):
            assert [t for t in windows.encoded.input_ids[row].tolist() if t not in special] == content[a:b]
            assert windows.content[row] == b - a
        # The first window is exactly the row plain truncation makes: windows add to it, never change it.
        truncated = encode(tokenizer, [text], None, max_length).input_ids[0]
        assert windows.encoded.input_ids[rows[0]].tolist() == truncated.tolist()
    assert len(windows.per_doc()) == len(texts) and windows.per_doc()[1] == 1


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
@pytest.mark.parametrize(("text_words", "pair_words"), [(60, 3), (3, 60), (40, 40)])
def test_windows_of_a_text_pair_cover_every_token_of_both(tokenizers, family, text_words, pair_words) -> None:
    tokenizer = tokenizers[family]
    text, pair = long_text(text_words, seed=3), long_text(pair_words, seed=4)
    max_length = 20
    windows = encode_windows(tokenizer, [text], [pair], max_length, 0)
    a, b = content_of(tokenizer, text), content_of(tokenizer, pair)
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    special = set(tokenizer.all_special_ids)
    expected = pair_spans(len(a), len(b), room, 0)
    assert len(windows.doc) == len(expected) > 1
    assert windows.encoded.lengths.max() <= max_length
    for row, (sa, sb) in enumerate(expected):
        content = [t for t in windows.encoded.input_ids[row].tolist() if t not in special]
        assert content == a[sa[0] : sa[1]] + b[sb[0] : sb[1]]
    if family == "bert":  # segment ids travel with their tokens: the pair's tokens stay segment 1
        for row, (_, sb) in enumerate(expected):
            types = windows.encoded.token_type_ids[row]
            assert int(types.sum()) == (sb[1] - sb[0]) + 1  # the pair's tokens and its closing [SEP]


def test_windows_are_rows_of_token_budgeted_batches(tokenizers) -> None:
    from ratchet.training.batching import plan_batches

    texts = [long_text(n, seed=n) for n in (5, 40, 200, 600)]  # the longest makes about 80 windows of 16
    windows = encode_windows(tokenizers["bert"], texts, None, 16, 0)
    assert windows.per_doc()[3] > 50
    batches = plan_batches(windows.encoded.lengths, max_tokens=128, batch_size=64, seed=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(windows.doc)))  # every window, once
    assert all(len(rows) * windows.encoded.lengths[rows].max() <= 128 for rows in batches)
