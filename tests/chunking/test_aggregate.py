"""Each pooling of window predictions, on hand-made logits whose pooled answer is worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ratchet.chunking.aggregate import aggregate
from ratchet.chunking.params import ChunkParams
from ratchet.errors import RatchetError


def softmax(logits) -> np.ndarray:
    z = np.exp(np.asarray(logits, float) - np.max(logits, axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# Document 0: two windows; document 1: one window (pooling one window gives it back unchanged).
LOGITS = np.array([[2.0, 0.0], [0.0, 4.0], [1.0, -1.0]])
DOC = np.array([0, 0, 1])
PROBS = softmax(LOGITS)


def test_mean_is_the_softmax_of_the_mean_logits() -> None:
    pooled = aggregate(PROBS, DOC, 2, "mean")
    np.testing.assert_allclose(pooled[0], softmax([[1.0, 2.0]])[0], atol=1e-6)
    np.testing.assert_allclose(pooled[1], PROBS[2], atol=1e-6)


def test_max_takes_each_class_at_its_most_confident_window() -> None:
    pooled = aggregate(PROBS, DOC, 2, "max")
    top = np.array([PROBS[0, 0], PROBS[1, 1]])  # class 0 peaks in window 0, class 1 in window 1
    np.testing.assert_allclose(pooled[0], top / top.sum(), atol=1e-6)
    assert pooled[0].argmax() == 1  # 0.982 for class 1 beats 0.881 for class 0


def test_tokens_weights_each_window_by_its_token_count() -> None:
    # A full window of 12 tokens against a tail of 4: mean logits (3*[2,0] + 1*[0,4]) / 4 = [1.5, 1].
    pooled = aggregate(PROBS, DOC, 2, "tokens", content=np.array([12, 4, 9]))
    np.testing.assert_allclose(pooled[0], softmax([[1.5, 1.0]])[0], atol=1e-6)
    assert pooled[0].argmax() == 0  # the plain mean said class 1: the short tail window is outweighed


def test_confidence_weights_each_window_by_its_top_probability() -> None:
    w0, w1 = PROBS[0].max(), PROBS[1].max()
    expected = softmax([[(w0 * 2.0) / (w0 + w1), (w1 * 4.0) / (w0 + w1)]])[0]
    np.testing.assert_allclose(aggregate(PROBS, DOC, 2, "confidence")[0], expected, atol=1e-6)


def test_every_pooling_returns_probabilities_per_document_in_order() -> None:
    for how in ChunkParams().aggregations:
        content = np.array([12, 4, 9])
        pooled = aggregate(PROBS, DOC, 2, how, content=content)
        assert pooled.shape == (2, 2) and pooled.dtype == np.float32
        np.testing.assert_allclose(pooled.sum(axis=1), 1.0, atol=1e-6)


def test_a_saturated_window_gives_no_infinity() -> None:
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    pooled = aggregate(probs, np.array([0, 0]), 1, "mean")
    assert np.isfinite(pooled).all() and pooled[0].argmax() == 0


def test_an_unknown_pooling_is_refused_naming_the_choices() -> None:
    with pytest.raises(RatchetError, match=r"chunk.aggregations=\['median'\].*mean, max, tokens, confidence"):
        ChunkParams(aggregations=("median",))
    with pytest.raises(RatchetError, match=r"chunk\.threshold"):
        ChunkParams(threshold=1.5)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("chunk.stride=-1", "chunk.stride=-1 is out of range"), ("chunk.threshold=2", "chunk.threshold=2"),
     ("chunk.aggregations=[median]", "chunk.aggregations=['median'] is not allowed")],
)  # fmt: skip
def test_bad_chunk_settings_are_one_line_and_exit_2(tmp_path, capsys, override: str, fragment: str) -> None:
    from ratchet.cli import main

    data = tmp_path / "data.csv"
    data.write_text("text,label\na,x\nb,y\n")
    assert main(["run", str(data), "--out", str(tmp_path / "run"), override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and fragment in err
    assert not (tmp_path / "run").exists()
