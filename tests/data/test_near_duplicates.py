"""Near-duplicates: shingles, MinHash/LSH with exact verification, and their use by clean and split."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ratchet.config import CleanParams, RunConfig
from ratchet.data.near_duplicates import (
    MIN_RECALL_AT_THRESHOLD,
    candidate_pairs,
    jaccard,
    load_signatures,
    lsh_shape,
    minhash,
    near_copies,
    near_copies_of_signatures,
    near_duplicates,
    shingle_matrix,
    shingles,
    sign,
)
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json
from ratchet.pipeline import Pipeline
from ratchet.steps.clean import CleanStep, CleanStepParams
from ratchet.steps.split import SplitStep, SplitStepParams

VOCAB = [f"w{i}" for i in range(3000)]


def random_texts(n: int, words: int = 40, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(VOCAB, k=words)) for _ in range(n)]


def change_words(text: str, k: int, seed: int) -> str:
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), k):
        words[i] = f"new{seed}x{i}"
    return " ".join(words)


def test_shingles_ignore_case_punctuation_and_spacing() -> None:
    assert shingles("Great  drug, really!") == shingles("great drug really")
    assert shingles("药很好") == ["药", "很", "好"]  # CJK: a character is a word
    assert shingles("a", "b") == ["a", "\x1fb"]  # the pair's words never match the text's


def test_minhash_is_deterministic_and_estimates_jaccard() -> None:
    a = " ".join(VOCAB[:100])
    b = " ".join(VOCAB[20:120])  # Jaccard 80 / 120
    sets = shingle_matrix([a, b, a.upper(), ""])
    sig = minhash(sets)
    assert sig.dtype == np.uint32 and sig.shape == (4, 128)
    assert np.array_equal(sig, minhash(shingle_matrix([a, b, a.upper(), ""])))
    assert np.array_equal(sig[0], sig[2])
    assert (sig[3] == np.iinfo(np.uint32).max).all()  # no words: matches nothing
    estimate = float(np.mean(sig[0] == sig[1]))
    assert abs(estimate - 80 / 120) < 0.12
    assert jaccard(sets, np.array([[0, 1], [0, 2], [0, 3]])) == pytest.approx([80 / 120, 1.0, 0.0])


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
def test_lsh_catches_pairs_at_the_threshold(threshold: float) -> None:
    bands, rows = lsh_shape(threshold)
    assert bands * rows <= 128
    assert 1 - (1 - threshold**rows) ** bands >= MIN_RECALL_AT_THRESHOLD


def test_injected_near_copies_are_found_and_nothing_else() -> None:
    texts = random_texts(400)
    copies = {
        400: texts[0].upper(),
        401: texts[1].replace(" ", ",  ") + "!!!",
        402: change_words(texts[2], 1, seed=1),  # 1 of 40 words: Jaccard about 0.95
        403: change_words(texts[3], 15, seed=2),  # far from it: not a near-duplicate
    }
    signed = sign(texts + list(copies.values()))
    found = near_duplicates(signed, threshold=0.9)
    pairs = {tuple(p) for p in found.pairs.tolist()}
    assert pairs == {(0, 400), (1, 401), (2, 402)}
    assert found.similarity.min() >= 0.9
    assert [g.tolist() for g in found.groups()] == [[0, 400], [1, 401], [2, 402]]
    assert found.group[3] == -1 and found.group[403] == -1


def test_groups_are_transitive_and_mass_copies_stay_linear() -> None:
    base = random_texts(1, words=60)[0]
    chain = [base, change_words(base, 1, 1), change_words(change_words(base, 1, 1), 1, 2)]
    mass = [random_texts(1, seed=5)[0]] * 100  # one bucket of 100: star + chain, not 4950 pairs
    texts = chain + mass + random_texts(50, seed=9)
    found = near_duplicates(sign(texts), threshold=0.9)
    groups = [g.tolist() for g in found.groups()]
    assert groups[0] == list(range(3, 103)) and groups[1] == [0, 1, 2]
    assert len(found.pairs) < 400


def test_near_copies_of_a_reference_collection() -> None:
    pool = random_texts(300, seed=3)
    test = [change_words(pool[10], 1, 7), pool[20].lower() + " .", *random_texts(50, seed=4)]
    copies = near_copies(sign(pool), sign(test), threshold=0.9)
    assert np.flatnonzero(copies.hit).tolist() == [10, 20]
    assert copies.match[10] == 0 and copies.match[20] == 1
    assert copies.similarity[20] == 1.0 and 0.9 <= copies.similarity[10] < 1.0
    # With the test's signatures only (what data.test_signatures holds), the estimate finds the same rows.
    estimated = near_copies_of_signatures(sign(pool), sign(test).signatures, threshold=0.9)
    assert np.flatnonzero(estimated.hit).tolist() == [10, 20] and estimated.similarity[20] == 1.0


def test_candidate_pairs_on_empty_and_single_inputs() -> None:
    assert candidate_pairs(minhash(shingle_matrix(["", ""])), 0.9).shape == (0, 2)
    assert near_duplicates(sign(["just one text"])).groups() == []


def test_threshold_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(RatchetError, match="near_duplicate_threshold"):
        CleanParams(near_duplicate_threshold=0.2)


# --- clean and split -----------------------------------------------------------------------


def _reviews(n: int, seed: int) -> pd.DataFrame:
    texts = random_texts(n, words=30, seed=seed)
    return pd.DataFrame({"review": texts, "sentiment": ["pos" if i % 2 else "neg" for i in range(n)]})


def _run(tmp_path: Path, pool: pd.DataFrame, test: pd.DataFrame | None) -> Path:
    data = tmp_path / "train.csv"
    pool.to_csv(data, index=False)
    test_path = None
    if test is not None:
        test_path = tmp_path / "test.csv"
        test.to_csv(test_path, index=False)
    out = tmp_path / "run"
    config = RunConfig(data=str(data), out=str(out), test=None if test_path is None else str(test_path))
    steps = [
        CleanStep(CleanStepParams(data=config.data, test=config.test, columns=config.data_params, clean=config.clean)),
        SplitStep(SplitStepParams(valid_size=0.2, test_size=0.2, seed=0)),
    ]
    Pipeline(config, steps, preflight=False).run()
    return out


def test_near_copies_of_test_rows_leave_train_and_valid(tmp_path: Path) -> None:
    pool = _reviews(120, seed=1)
    test = _reviews(30, seed=2)
    # Three test rows come back in the pool with a word changed, different case, extra punctuation.
    test.loc[0, "review"] = change_words(pool.loc[5, "review"], 1, 3)
    test.loc[1, "review"] = pool.loc[6, "review"].upper() + " !"
    test.loc[2, "review"] = change_words(pool.loc[7, "review"], 2, 4)  # 2 of 30 words: Jaccard ~0.88
    out = _run(tmp_path, pool, test)
    data = out / "data"
    near = read_json(data / "near_duplicates.json")
    assert near["test_copies"] == [5, 6]
    report = read_json(data / "data_report.json")
    assert sum(report["near_duplicates"]["removed_as_test_copies"].values()) == 2
    assert report["near_duplicates"]["test_copies"] == 2
    kept = set(pd.read_parquet(data / "train.parquet")["text"]) | set(pd.read_parquet(data / "valid.parquet")["text"])
    assert pool.loc[5, "review"] not in kept and pool.loc[6, "review"] not in kept
    assert pool.loc[7, "review"] in kept  # below the threshold: stays
    assert len(pd.read_parquet(data / "test.parquet")) == 30  # never removed from test
    signatures = load_signatures(data / "test_minhash.npy")
    assert signatures.shape == (30, 128) and signatures.dtype == np.uint32


def test_near_duplicate_groups_stay_in_one_split(tmp_path: Path) -> None:
    pool = _reviews(100, seed=5)
    copies = pool.iloc[:20].copy()
    copies["review"] = [change_words(t, 1, i) for i, t in enumerate(copies["review"])]
    out = _run(tmp_path, pd.concat([pool, copies], ignore_index=True), None)
    data = out / "data"
    where = {}
    for split in ("train", "valid", "test"):
        for text in pd.read_parquet(data / f"{split}.parquet")["text"]:
            where[text] = split
    assert all(where[a] == where[b] for a, b in zip(pool["review"][:20], copies["review"], strict=True))
    report = read_json(data / "data_report.json")
    assert report["near_duplicates"]["groups"] == 20 and report["near_duplicates"]["groups_kept_in_one_split"] == 20
    assert sum(report["splits"].values()) == 120  # nothing dropped: a carved test keeps groups whole
    assert "test_minhash.npy" in {p.name for p in data.iterdir()}
