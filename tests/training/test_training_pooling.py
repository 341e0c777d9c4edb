"""Training on documents' pooled windows (chunk.loss=document): whole documents a batch, one loss a document
on its windows' mean logits, validation scored per document."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from ratchet.chunking.aggregate import aggregate
from ratchet.training.batching import BatchStream, padded_length
from ratchet.training.encode import Encoded
from ratchet.training.feed import Feed
from ratchet.training.optim import classification_loss
from ratchet.training.pooling import batch_groups, plan_document_batches, pooled_logits, pooled_probs

RNG = np.random.default_rng(0)
SIZES = RNG.integers(1, 6, size=120)  # windows per document
GROUPS = np.repeat(np.arange(len(SIZES)), SIZES)
LENGTHS = np.where(RNG.random(len(GROUPS)) < 0.7, 64, RNG.integers(5, 64, size=len(GROUPS)))


@pytest.mark.parametrize(("max_tokens", "batch_size", "multiple"), [(512, 16, 1), (1024, 32, 8), (200, 64, 1)])
def test_every_document_that_fits_is_whole_in_one_batch_within_the_budget(max_tokens, batch_size, multiple) -> None:
    batches = plan_document_batches(LENGTHS, GROUPS, max_tokens=max_tokens, batch_size=batch_size, seed=3,
                                    pad_multiple=multiple)  # fmt: skip
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(GROUPS)))  # every row once
    cap = int(LENGTHS.max())
    for batch in batches:
        width = padded_length(int(LENGTHS[batch].max()), multiple, cap)
        assert len(batch) <= batch_size and len(batch) * width <= max_tokens
    batch_of = {int(row): i for i, batch in enumerate(batches) for row in batch}
    split = 0
    for doc, size in enumerate(SIZES):
        rows = np.flatnonzero(np.equal(GROUPS, doc))
        fits = size <= batch_size and size * padded_length(int(LENGTHS[rows].max()), multiple, cap) <= max_tokens
        split += not fits
        assert len({batch_of[int(r)] for r in rows}) == 1 or not fits  # whole where it fits, in pieces where not
    assert (split > 0) == (max_tokens == 200)  # 200 tokens hold 3 windows of 64: longer documents are cut


def test_a_document_larger_than_the_budget_is_learnt_in_pieces_that_fit() -> None:
    """Memory stays bounded: 10 windows of 64 tokens under a 128-token budget are 5 pieces of 2 rows."""
    groups, lengths = np.array([0] * 10 + [1]), np.array([64] * 10 + [10])
    batches = plan_document_batches(lengths, groups, max_tokens=128, batch_size=8, seed=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(11))
    assert all(len(b) * lengths[b].max() <= 128 for b in batches)
    pieces = sorted(b.tolist() for b in batches if 0 in groups[b])
    assert pieces == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]  # consecutive windows stay together


def test_the_plan_is_a_pure_function_of_seed_and_epoch_with_as_many_batches_every_epoch() -> None:
    def plan(seed: int, epoch: int) -> list[list[int]]:
        found = plan_document_batches(LENGTHS, GROUPS, max_tokens=512, batch_size=16, seed=seed, epoch=epoch)
        return [b.tolist() for b in found]

    assert plan(1, 0) == plan(1, 0) and plan(1, 0) != plan(1, 1) and plan(1, 0) != plan(2, 0)
    assert {len(plan(1, epoch)) for epoch in range(8)} == {len(plan(1, 0))}  # the schedule counts on it
    sorted_plan = plan_document_batches(LENGTHS, GROUPS, max_tokens=512, batch_size=16)
    widths = [int(LENGTHS[b].max()) for b in sorted_plan]
    assert widths == sorted(widths)  # seed None: inference order, unshuffled


def test_the_batch_stream_plans_whole_documents_when_rows_carry_groups() -> None:
    from ratchet.config import TrainParams

    stream = BatchStream(LENGTHS, TrainParams(max_tokens=512, batch_size=16), 0, 1, GROUPS)
    for m in range(2 * stream.per_epoch):
        rows = stream.rows(m)
        assert all(set(np.flatnonzero(np.equal(GROUPS, d))) <= set(rows) for d in np.unique(GROUPS[rows]))


def test_the_loss_of_a_document_is_taken_on_its_windows_mean_logits() -> None:
    logits = torch.tensor([[2.0, 0.0], [-1.0, 1.0], [0.5, 0.5], [3.0, -3.0]], requires_grad=True)
    local = torch.tensor([0, 0, 1, 1])
    pooled = pooled_logits(logits, local, 2)
    assert torch.allclose(pooled, torch.tensor([[0.5, 0.5], [1.75, -1.25]]))
    labels = torch.tensor([1, 0])
    loss = classification_loss(pooled, labels, torch.ones(2))
    loss.backward()
    # Each window's logits get its document's (softmax(mean) - target) / windows, over the 2 documents.
    want = (torch.softmax(pooled.detach(), -1) - torch.nn.functional.one_hot(labels, 2)) / 2 / 2
    assert torch.allclose(logits.grad, want.repeat_interleave(2, dim=0))


def test_a_feed_of_grouped_rows_gives_one_target_per_document() -> None:
    ids = [np.arange(1, n + 1, dtype=np.int32) for n in (4, 3, 5, 2, 6)]
    train = Encoded(ids, np.array([len(i) for i in ids]), None, np.array([7, 7, 9, 9, 9]))
    labels, weights = np.array([1, 1, 0, 0, 0]), np.array([2.0, 2.0, 0.5, 0.5, 0.5], np.float32)
    micro = Feed(train, labels, weights, None, None, 0, 1, torch.device("cpu"))(np.array([2, 0, 3, 1, 4]))
    assert micro.documents.tolist() == [1, 0, 1, 0, 1]
    assert micro.labels.tolist() == [1, 0] and micro.weights.tolist() == [2.0, 0.5]
    assert micro.inputs["input_ids"].shape[0] == 5  # every window is read


def test_validation_windows_are_pooled_as_the_mean_aggregation_pools_them() -> None:
    probs = RNG.dirichlet(np.ones(3), size=len(GROUPS)).astype(np.float32)
    pooled, first = pooled_probs(probs, GROUPS)
    assert np.allclose(pooled, aggregate(probs, GROUPS, len(SIZES), "mean"), atol=1e-6)
    assert (GROUPS[first] == np.arange(len(SIZES))).all()
    local, first_in_batch = batch_groups(np.array([5, 2, 5, 8]))
    assert local.tolist() == [1, 0, 1, 2] and first_in_batch.tolist() == [1, 0, 3]


def test_a_fit_on_grouped_windows_is_judged_on_documents(tiny_dirs, tmp_path) -> None:
    """Its validation probabilities stay one row a window (the chunk step pools them per aggregation), but
    early stopping watches the documents' macro-F1, pooled as the loss pools them."""
    from ratchet.config import TrainParams
    from ratchet.models.load import load_for_classification
    from ratchet.training.encode import encode
    from ratchet.training.loop import fit

    model, tokenizer = load_for_classification(str(tiny_dirs["bert"]), ["neg", "pos"])
    words = ["good great fine", "bad awful poor"]
    texts = [f"{words[i % 2]} {'filler ' * (i % 3)}".strip() for i in range(24)]
    labels = np.array([i % 2 for i in range(24)])
    encoded = encode(tokenizer, texts, None, 16)
    groups = np.arange(24) // 2  # two windows a document, both of its label
    labels = labels[::2].repeat(2)
    train = Encoded(encoded.input_ids[:16], encoded.lengths[:16], None, groups[:16])
    valid = Encoded(encoded.input_ids[16:], encoded.lengths[16:], None, groups[16:])
    params = TrainParams(epochs=2, min_steps=0, max_length=16, max_tokens=64)
    result = fit(model, train, labels[:16], valid, labels[16:], params, device="cpu", seed=0,
                 checkpoint_dir=tmp_path / "ckpt", pad_id=tokenizer.pad_token_id or 0)  # fmt: skip
    assert result.valid_probs.shape == (8, 2)
    pooled, first = pooled_probs(result.valid_probs, valid.groups)
    documents = f1_score(labels[16:][first], pooled.argmax(1), average="macro", zero_division=0)
    assert result.best_score == pytest.approx(documents)
    assert len(first) == 4
