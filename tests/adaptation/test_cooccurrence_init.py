"""New tokens without known pieces start where their corpus co-occurrence puts them."""

from __future__ import annotations

import random

import numpy as np
import torch

from ratchet.adaptation.cooccurrence import (
    TokenVectors,
    cooccurrence_vectors,
    map_from_anchors,
    place_on_principal_axes,
)
from ratchet.adaptation.mlm import load_lm
from ratchet.adaptation.vocab import extend_vocabulary

GROUP_A = [chr(0x4E00 + i) for i in range(30)]
GROUP_B = [chr(0x4F00 + i) for i in range(30)]


def two_topic_corpus(rows: int = 3000, seed: int = 0) -> list[str]:
    """Each text draws its characters from one group only: the groups never co-occur."""
    rng = random.Random(seed)
    return ["".join(rng.choices(GROUP_A if i % 2 else GROUP_B, k=8)) for i in range(rows)]


def group_contrast(rows: torch.Tensor) -> float:
    """Mean distance within a group over mean distance across the groups (1: no structure)."""
    a, b = rows[: len(GROUP_A)], rows[len(GROUP_A) :]
    within = (torch.cdist(a, a).sum() + torch.cdist(b, b).sum()) / (2 * len(a) * (len(a) - 1))
    return float(within / torch.cdist(a, b).mean())


def extended_rows(tiny_model_dir, corpus: list[str] | None, seed: int = 0):
    model, tok = load_lm(str(tiny_model_dir("bert")), "mlm")
    old = model.get_input_embeddings().weight.detach().clone()
    report = extend_vocabulary(model, tok, GROUP_A + GROUP_B, seed=seed, corpus=corpus)
    ids = tok.convert_tokens_to_ids(GROUP_A + GROUP_B)
    return old, model.get_input_embeddings().weight.detach()[ids].clone(), report


def test_characters_used_alike_start_close_together(tiny_model_dir) -> None:
    old, placed, report = extended_rows(tiny_model_dir, two_topic_corpus())
    assert report["from_cooccurrence"] == 60 and report["sampled"] == 0
    _, sampled, sampled_report = extended_rows(tiny_model_dir, None)
    assert sampled_report["from_cooccurrence"] == 0 and sampled_report["sampled"] == 60
    assert group_contrast(placed) < 0.8  # the two topics are apart (0.68 here)
    assert group_contrast(sampled) > 0.9  # a random draw knows nothing of them
    # Still typical embeddings: the spread of the existing rows, not a collapse onto a few points.
    torch.testing.assert_close(placed.std(0).mean(), old.std(0).mean(), rtol=0.3, atol=0)


def test_placement_is_deterministic_and_keeps_old_rows(tiny_model_dir) -> None:
    corpus = two_topic_corpus()
    old, first, _ = extended_rows(tiny_model_dir, corpus, seed=3)
    model, tok = load_lm(str(tiny_model_dir("bert")), "mlm")
    extend_vocabulary(model, tok, GROUP_A + GROUP_B, seed=3, corpus=corpus)
    weights = model.get_input_embeddings().weight.detach()
    assert torch.equal(weights[tok.convert_tokens_to_ids(GROUP_A + GROUP_B)], first)  # a resume rebuilds them
    assert torch.equal(weights[: len(old)], old)


def test_a_corpus_without_the_new_tokens_falls_back_to_draws(tiny_model_dir) -> None:
    _, _, report = extended_rows(tiny_model_dir, ["the drug was great"] * 5)
    assert report["from_cooccurrence"] == 0 and report["sampled"] == 60


def test_cooccurrence_vectors_need_recurring_tokens(tiny_model_dir) -> None:
    _, tok = load_lm(str(tiny_model_dir("bert")), "mlm")
    assert cooccurrence_vectors(tok, []) is None
    vectors = cooccurrence_vectors(tok, ["the drug was great and it helped"] * 4, dimensions=3)
    assert vectors is not None and vectors.vectors.shape[1] == 3
    assert len(vectors.ids) == len(set(tok("the drug was great and it helped", add_special_tokens=False)["input_ids"]))


def test_principal_axes_placement_matches_the_embedding_distribution() -> None:
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(16, 16, generator=generator)
    existing = torch.randn(4000, 16, generator=generator) @ mixing + 3.0
    coordinates = np.random.default_rng(1).standard_normal((4000, 4)) * [5.0, 2.0, 1.0, 0.5]
    placed = place_on_principal_axes(existing, coordinates, seed=0).double()
    torch.testing.assert_close(placed.mean(0), existing.double().mean(0), atol=0.5, rtol=0)
    cov_placed, cov_existing = torch.cov(placed.T), torch.cov(existing.double().T)
    torch.testing.assert_close(cov_placed.trace(), cov_existing.trace(), rtol=0.05, atol=0)  # same total spread
    # Coordinate j runs along the j-th largest principal axis, and the coordinates' own spectrum is kept:
    # the first (spread 5) has 100 times the variance of the fourth (spread 0.5).
    axes = torch.linalg.eigh(cov_existing).eigenvectors.flip(1)
    along = (placed - placed.mean(0)) @ axes[:, :4]
    for j in range(4):
        assert abs(float(np.corrcoef(along[:, j].numpy(), coordinates[:, j])[0, 1])) > 0.99
    assert 80 < float(along[:, 0].var() / along[:, 3].var()) < 125


def test_anchor_map_carries_new_tokens_to_old_tokens_used_alike() -> None:
    """Where embeddings depend on co-occurrence through some map, the ridge fit on old tokens recovers it."""
    rng = np.random.default_rng(0)
    dims, hidden, old, new = 8, 24, 200, 40
    coordinates = rng.standard_normal((old + new, dims))
    true_map = rng.standard_normal((dims, hidden))
    embeddings = torch.as_tensor(coordinates[:old] @ true_map + 0.1 * rng.standard_normal((old, hidden)))
    vectors = TokenVectors(np.arange(old + new), coordinates)
    placed = map_from_anchors(embeddings, vectors, list(range(old)), coordinates[old:]).numpy()
    expected = coordinates[old:] @ true_map
    cosine = (placed - placed.mean(0)) * (expected - expected.mean(0))
    norms = np.linalg.norm(placed - placed.mean(0), axis=1) * np.linalg.norm(expected - expected.mean(0), axis=1)
    assert (cosine.sum(1) / norms).min() > 0.95
    # Scaled to the typical size of the old rows (ridge alone would shrink them).
    spread = torch.linalg.norm(embeddings - embeddings.mean(0), dim=1).pow(2).mean().sqrt()
    torch.testing.assert_close(
        torch.as_tensor(placed - embeddings.mean(0).numpy()).norm(dim=1).pow(2).mean().sqrt(), spread, rtol=1e-6, atol=0
    )
    assert map_from_anchors(embeddings, vectors, list(range(10)), coordinates[old:]) is None  # too few anchors
