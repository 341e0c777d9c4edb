import numpy as np
import pytest

from ratchet.training.batching import collate, padded_length, padding_waste, plan_batches
from ratchet.training.encode import Encoded

LENGTHS = np.random.default_rng(0).integers(3, 200, size=500)


@pytest.mark.parametrize(("max_tokens", "batch_size", "multiple"), [(512, 16, 1), (1024, 8, 8), (200, 64, 1)])
def test_batches_respect_budget_and_cover_every_row_once(max_tokens, batch_size, multiple):
    batches = plan_batches(
        LENGTHS, max_tokens=max_tokens, batch_size=batch_size, seed=1, epoch=0, pad_multiple=multiple
    )
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(LENGTHS)))
    cap = int(LENGTHS.max())
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        assert len(batch) * padded_length(int(LENGTHS[batch].max()), multiple, cap) <= max_tokens


def test_plan_is_a_pure_function_of_seed_and_epoch():
    def plan(seed, epoch):
        return [b.tolist() for b in plan_batches(LENGTHS, max_tokens=512, batch_size=16, seed=seed, epoch=epoch)]

    assert plan(1, 0) == plan(1, 0)
    assert plan(1, 0) != plan(1, 1)
    assert plan(1, 0) != plan(2, 0)
    # same number of batches every epoch (the schedule depends on it)
    assert len(plan(1, 0)) == len(plan(1, 5))


def test_inference_plan_is_sorted_and_unshuffled():
    batches = plan_batches(LENGTHS, max_tokens=512, batch_size=16)
    flat = LENGTHS[np.concatenate(batches)]
    assert (np.diff(flat) >= 0).all()


def test_length_bucketing_wastes_far_less_than_random_batches():
    batches = plan_batches(LENGTHS, max_tokens=10_000, batch_size=16, seed=0)
    random_batches = np.array_split(np.random.default_rng(0).permutation(len(LENGTHS)), len(LENGTHS) // 16)
    assert padding_waste(batches, LENGTHS) < 0.05
    assert padding_waste(random_batches, LENGTHS) > 0.3


def test_collate_pads_right_within_the_batch_only():
    ids = [np.array([5, 6, 7], np.int32), np.array([8], np.int32), np.array([9, 9], np.int32)]
    types = [np.array([0, 0, 1], np.int32), np.array([0], np.int32), np.array([0, 1], np.int32)]
    encoded = Encoded(ids, np.array([3, 1, 2]), types)
    batch = collate(encoded, np.array([1, 2]), pad_id=0)
    assert batch["input_ids"].tolist() == [[8, 0], [9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 0], [1, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 0], [0, 1]]
    wide = collate(encoded, np.array([0, 1]), pad_id=-1, pad_multiple=8)
    assert wide["input_ids"].shape == (2, 3)  # rounding to 8 is capped at the longest row of the data
    assert collate(encoded, np.array([0]), pad_id=0)["attention_mask"].tolist() == [[1, 1, 1]]
    unpadded = collate(encoded, np.array([0]), pad_id=0, skip_full_mask=True)
    assert "attention_mask" not in unpadded  # nothing padded: no mask, the unmasked attention kernel runs
