"""The adaptation corpus: test texts (exact, re-spaced, quoted inside a document, near copies) never reach it."""

from __future__ import annotations

from ratchet.adaptation.corpus import build_corpus, candidate_fingerprints, minhash_signature, split_heldout
from ratchet.data.split import text_fingerprint

TEST_TEXTS = [
    "The drug gave me terrible headaches. I stopped after a week.",
    "这个药效果很好，推荐。",
]
LONG_TEST = " ".join(f"word{i}" for i in range(60))  # one long sentence: only MinHash sees an edited copy
VALID_TEXT = "Valid row that the gate scores."


def corpus(unlabeled: list[str], signatures=None):
    return build_corpus(
        ["a training text that stays", "another training text"],
        unlabeled,
        test_fingerprints=[text_fingerprint(t) for t in [*TEST_TEXTS, LONG_TEST]],
        exclude_fingerprints=[text_fingerprint(VALID_TEXT)],
        test_signatures=signatures,
    )


def test_test_texts_and_their_copies_never_reach_the_corpus() -> None:
    unlabeled = [
        "the DRUG gave me   terrible headaches.\ni stopped after a week.",  # case and spacing differ
        "Forum post. The drug gave me terrible headaches. I stopped after a week. Anyone else?",  # quoted inside
        "这个药效果很好，推荐。",
        "我买了很多次。这个药效果很好，推荐。下次再来。",  # quoted inside, no spaces
        "The drug gave me terrible headaches &amp; more",  # shares words, is not a test text: kept
        "Unrelated text about sleep.",
        "Unrelated text about sleep.",  # duplicate: kept once
        VALID_TEXT,  # validation text: the gate's judge must not have seen it
        "   ",
    ]
    built = corpus(unlabeled)
    assert built.texts == [
        "a training text that stays",
        "another training text",
        "The drug gave me terrible headaches & more",  # normalized like the labeled data
        "Unrelated text about sleep.",
    ]
    stats = built.stats
    assert (stats["removed_test"], stats["removed_valid"], stats["removed_duplicate"]) == (4, 1, 1)
    assert stats["removed_empty"] == 1 and stats["rows"] == 4
    for text in built.texts:
        assert not {text_fingerprint(t) for t in TEST_TEXTS} & candidate_fingerprints(text)


def test_minhash_signatures_catch_edited_copies() -> None:
    edited = LONG_TEST + " extra"
    other = " ".join(f"other{i}" for i in range(60))
    assert edited in corpus([edited, other]).texts  # fingerprints alone cannot see an edit
    built = corpus([edited, other], signatures=[minhash_signature(LONG_TEST)])
    assert edited not in built.texts and other in built.texts
    assert built.stats["removed_near_test"] == 1


def test_unlabeled_text_is_sampled_down_but_training_text_stays() -> None:
    built = build_corpus(["t1", "t2"], [f"u{i}" for i in range(50)], max_rows=12, seed=3)
    assert built.texts[:2] == ["t1", "t2"] and len(built.texts) == 12
    assert built.stats["sampled_out"] == 40


def test_heldout_split_is_disjoint_and_seeded() -> None:
    texts = [f"text {i}" for i in range(40)]
    fit, held = split_heldout(texts, seed=1)
    assert len(held) == 4 and not set(fit) & set(held) and sorted(fit + held) == sorted(texts)
    assert split_heldout(texts, seed=1) == (fit, held)


def test_the_unlabeled_corpus_students_learn_from_holds_no_test_train_or_valid_text(tmp_path) -> None:
    from ratchet.adaptation.corpus import unlabeled_corpus
    from ratchet.config import CleanParams
    from ratchet.fsutil import write_json

    train = ["a training text that stays", "another training text"]
    fresh = [f"fresh unlabeled text number {i}" for i in range(6)]
    file = tmp_path / "unlabeled.txt"
    file.write_text("\n".join([TEST_TEXTS[0], train[1], VALID_TEXT, *fresh]) + "\n", encoding="utf-8")
    sealed = tmp_path / "test_fingerprints.json"
    write_json(sealed, [text_fingerprint(TEST_TEXTS[0])])

    def drawn(max_unlabeled: int, fingerprints) -> tuple[list[str], dict]:
        return unlabeled_corpus(str(file), train, [VALID_TEXT], clean=CleanParams(), max_unlabeled=max_unlabeled,
                                test_fingerprints_file=fingerprints, seed=0)  # fmt: skip

    texts, stats = drawn(100, sealed)
    assert texts == fresh  # the test copy, the training text and the valid text are gone; no training text returns
    assert (stats["removed_test"], stats["removed_duplicate"], stats["removed_valid"]) == (1, 1, 1)
    sampled, stats = drawn(4, sealed)
    assert len(sampled) == 4 and set(sampled) <= set(fresh) and stats["sampled_out"] == 2
    assert drawn(4, sealed)[0] == sampled  # seeded: the same sample on every run
    assert TEST_TEXTS[0] in drawn(100, None)[0]  # without the split's fingerprints nothing is known to be test
