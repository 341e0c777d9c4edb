"""inference_batches: the cheapest split of length-sorted rows, so few rows are not padded to their longest."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ratchet.export.reader import BATCH_COST, BATCH_ROWS, _batches
from ratchet.training.batching import inference_batches, plan_batches


def cost(batches: list[np.ndarray], lengths: np.ndarray, per_batch: float) -> float:
    return sum(per_batch + len(rows) * int(lengths[rows].max()) for rows in batches)


@pytest.mark.parametrize(("max_tokens", "batch_size", "per_batch"), [(512, 16, 64), (8192, 64, 16), (300, 64, 200)])
def test_every_row_once_within_the_limits(max_tokens: int, batch_size: int, per_batch: float) -> None:
    lengths = np.random.default_rng(3).integers(3, 200, size=300)
    batches = inference_batches(lengths, max_tokens=max_tokens, batch_size=batch_size, batch_cost=per_batch)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for rows in batches:
        assert 1 <= len(rows) <= batch_size
        assert len(rows) * int(lengths[rows].max()) <= max_tokens
    # Never costlier than filling batches in length order, plan_batches' way.
    greedy = plan_batches(lengths, max_tokens=max_tokens, batch_size=batch_size)
    assert cost(batches, lengths, per_batch) <= cost(greedy, lengths, per_batch)


def test_the_split_is_the_cheapest_of_all_splits_of_the_sorted_rows() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        lengths = rng.integers(1, 60, size=int(rng.integers(1, 9)))
        order = np.argsort(lengths, kind="stable")
        cheapest = min(
            cost(np.split(order, list(cuts)), lengths, 20.0)
            for k in range(len(order))
            for cuts in itertools.combinations(range(1, len(order)), k)
        )
        found = inference_batches(lengths, max_tokens=10**6, batch_size=64, batch_cost=20.0)
        assert cost(found, lengths, 20.0) == pytest.approx(cheapest)


def test_few_short_texts_are_not_padded_to_one_long_text() -> None:
    lengths = np.array([12, 9, 300, 11, 10, 12, 8, 13])
    batches = inference_batches(lengths, max_tokens=8192, batch_size=64, batch_cost=64)
    assert [sorted(rows.tolist()) for rows in batches] == [[0, 1, 3, 4, 5, 6, 7], [2]]
    # Filled in length order, the same eight rows are one batch of 8 x 300 tokens.
    assert len(plan_batches(lengths, max_tokens=8192, batch_size=64)) == 1
    assert inference_batches(np.array([], dtype=np.int64), max_tokens=8192, batch_size=64) == []


def test_the_export_readers_copy_splits_as_ratchet_does() -> None:
    lengths = np.random.default_rng(8).integers(3, 120, size=200)
    ours = inference_batches(lengths, max_tokens=10**9, batch_size=BATCH_ROWS, batch_cost=BATCH_COST)
    theirs = _batches(lengths)
    assert [rows.tolist() for rows in ours] == [rows.tolist() for rows in theirs]
