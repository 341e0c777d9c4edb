"""cleanlab flags, the ranking, the review table and the drop / relabel / weight policies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ratchet.relabel.issues import MIN_WEIGHT, apply_policy, find_issues, issues_table

LABELS = ["a", "b", "c"]


def noisy_case(n: int = 300, flips: int = 30, seed: int = 0):
    """True labels, given labels with ``flips`` flipped, and confident probabilities of the truth."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % 3
    given = truth.copy()
    flipped = rng.choice(n, flips, replace=False)
    given[flipped] = (given[flipped] + 1) % 3
    probs = np.full((n, 3), 0.05)
    probs[np.arange(n), truth] = 0.9
    probs += rng.uniform(0, 0.05, probs.shape)
    probs /= probs.sum(1, keepdims=True)
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(n)], "label": [LABELS[k] for k in given]})
    frame["label_id"] = given
    return frame, given, probs, np.sort(flipped)


def test_flags_the_flips_most_suspicious_first() -> None:
    frame, given, probs, flipped = noisy_case()
    issues = find_issues(given, probs)
    assert np.array_equal(np.sort(issues.flagged), flipped)
    assert np.all(np.diff(issues.quality[issues.flagged]) >= 0)
    exempt = np.zeros(len(given), dtype=bool)
    exempt[flipped[:5]] = True
    assert set(find_issues(given, probs, exempt=exempt).flagged) == set(flipped[5:])
    table = issues_table(frame, issues, LABELS)
    assert list(table.columns) == ["text", "given_label", "suggested_label", "confidence", "label_quality", "accept"]
    first = issues.flagged[0]
    assert table.iloc[0]["text"] == f"t{first}" and table.iloc[0]["given_label"] == LABELS[given[first]]
    assert table["label_quality"].is_monotonic_increasing and (table["accept"] == "").all()


def test_policies() -> None:
    frame, given, probs, flipped = noisy_case()
    issues = find_issues(given, probs)
    dropped, kept, counts = apply_policy(frame, issues, "drop", LABELS)
    assert counts["dropped"] == 30 and len(dropped) == 270 and not set(kept) & set(flipped)
    relabeled, kept, counts = apply_policy(frame, issues, "relabel", LABELS)
    truth = np.arange(300) % 3
    assert counts["relabeled"] == 30 and np.array_equal(relabeled["label_id"].to_numpy(), truth)
    assert relabeled["label"].tolist() == [LABELS[k] for k in truth] and len(kept) == 300
    weighted, _, counts = apply_policy(frame, issues, "weight", LABELS)
    w = weighted["weight"].to_numpy()
    assert weighted["weight"].dtype == np.float32 and counts["down_weighted"] == 30
    assert np.all(w[flipped] < 0.2) and np.all(w[flipped] >= MIN_WEIGHT)
    assert np.all(np.delete(w, flipped) == 1.0)
    assert (frame["label_id"].to_numpy() == given).all()  # the input frame is untouched


def test_drop_never_empties_a_class() -> None:
    frame, given, probs, _ = noisy_case(n=30, flips=0)
    issues = find_issues(given, probs)
    issues.flagged = np.flatnonzero(given == 2)  # pretend every row of class c looks wrong
    dropped, _, _ = apply_policy(frame, issues, "drop", LABELS)
    assert (dropped["label_id"] == 2).sum() == 1
