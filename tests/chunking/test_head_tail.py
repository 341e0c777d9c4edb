"""The head_tail cut: one row per text, its first head_share of the room and its last tokens for the rest."""

from __future__ import annotations

import numpy as np
import pytest
from test_windows import content_of, long_text, tokenizers  # noqa: F401 - the fixture is shared

from ratchet.chunking.windows import encode_windows, head_tail, head_tail_layout, window_positions
from ratchet.errors import RatchetError
from ratchet.training.encode import encode


@pytest.mark.parametrize(
    ("n", "room", "share", "expected"),
    [
        (10, 4, 0.25, ((0, 1), (7, 10))),
        (100, 20, 0.25, ((0, 5), (85, 100))),
        (100, 20, 0.5, ((0, 10), (90, 100))),
        (100, 20, 0.0, ((80, 100),)),  # the tail alone
        (100, 20, 1.0, ((0, 20),)),  # plain head truncation
        (7, 7, 0.25, ((0, 7),)),  # fits: read whole
        (3, 8, 0.25, ((0, 3),)),
    ],
)
def test_head_tail_keeps_the_start_and_the_end_within_the_room(n, room, share, expected) -> None:
    found = head_tail(n, room, share)
    assert found == expected
    assert sum(b - a for a, b in found) == min(n, room)


@pytest.mark.parametrize(("na", "nb"), [(30, 3), (3, 30), (30, 25), (4, 5)])
def test_head_tail_layout_of_a_pair_fits_the_room_and_keeps_short_segments_whole(na: int, nb: int) -> None:
    room = 10
    a, b = head_tail_layout(na, nb, room, 0.25, pair=True)
    assert sum(y - x for x, y in a) + sum(y - x for x, y in b) == min(room, na + nb)
    for n, part in ((na, a), (nb, b)):
        if n <= room // 2 or na + nb <= room:  # a short segment rides along whole
            assert part == ((0, n),)
        else:  # a long one keeps its start and its end
            assert part[0][0] == 0 and part[-1][1] == n


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_head_tail_rows_hold_the_texts_first_and_last_tokens(tokenizers, family: str) -> None:  # noqa: F811
    tokenizer = tokenizers[family]
    texts = [long_text(60, seed=1), "great", long_text(25, seed=2)]
    max_length = 16
    rows = encode_windows(tokenizer, texts, None, max_length, 0, cut="head_tail", head_share=0.25)
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    special = set(tokenizer.all_special_ids)
    assert rows.doc.tolist() == [0, 1, 2]  # one row a text, however long
    assert rows.encoded.lengths.max() <= max_length
    for doc, text in enumerate(texts):
        content = content_of(tokenizer, text)
        kept = [t for t in rows.encoded.input_ids[doc].tolist() if t not in special]
        truncated = encode(tokenizer, [text], None, max_length).input_ids[0].tolist()
        if len(content) <= room:  # fits: the very row plain truncation makes
            assert rows.encoded.input_ids[doc].tolist() == truncated
            continue
        head = round(room * 0.25)
        assert kept == content[:head] + content[len(content) - (room - head) :]
        assert rows.content[doc] == room
        # The special tokens are truncation's, and the head is truncation's first tokens.
        row = rows.encoded.input_ids[doc].tolist()
        assert [t for t in row if t in special] == [t for t in truncated if t in special]
        lead = next(i for i, t in enumerate(truncated) if t not in special)  # [CLS] for BERT, none for GPT-2
        assert row[: lead + head] == truncated[: lead + head]


def test_head_tail_positions_for_explain_match_the_rows_encode_windows_cuts(tokenizers) -> None:  # noqa: F811
    tokenizer = tokenizers["bert"]
    text = long_text(60, seed=5)
    encoded = tokenizer(text, truncation=False, return_special_tokens_mask=True)
    special = np.asarray(encoded["special_tokens_mask"], dtype=bool)
    positions, content = window_positions(special, 16, 0, tokenizer.num_special_tokens_to_add(pair=False),
                                          cut="head_tail", head_share=0.5)  # fmt: skip
    rows = encode_windows(tokenizer, [text], None, 16, 0, cut="head_tail", head_share=0.5)
    assert len(positions) == 1
    assert np.asarray(encoded["input_ids"])[positions[0]].tolist() == rows.encoded.input_ids[0].tolist()
    assert content.tolist() == rows.content.tolist()


def test_chunk_cut_and_head_share_are_checked() -> None:
    from ratchet.chunking.params import ChunkParams

    assert ChunkParams(cut="head_tail", head_share=0.5).cut == "head_tail"
    with pytest.raises(RatchetError, match=r"chunk\.cut='middle' is not allowed: use one of windows, head_tail"):
        ChunkParams(cut="middle")
    for bad in (-0.1, 1.5, True, "half"):
        with pytest.raises(RatchetError, match=r"chunk\.head_share=.* give a share from 0 to 1"):
            ChunkParams(head_share=bad)
