"""explain reads a windowed model's whole document: IG through every window, pooled and calibrated as predict does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ratchet_testing import sharp_classifier_folder, synthetic_rows

from ratchet.chunking.windows import encode_windows, window_positions
from ratchet.explain.explainer import Explainer
from ratchet.models.decision import Decision
from ratchet.predictor import load_predictor

LABELS = ["negative", "neutral", "positive"]
ROWS = synthetic_rows(12, seed=7)
LONG = " ".join(row["review"] for row in ROWS[:4])  # about 40 tokens against windows of 12


def windowed(
    tiny_model_dir, root: Path, family: str, aggregation: str, stride: int, temperature: float = 1.0, **cut
):  # fmt: skip
    meta = {"max_length": 12, "windowing": {"stride": stride, "aggregation": aggregation, "window": 12, **cut}}
    folder = sharp_classifier_folder(tiny_model_dir(family), root / f"{family}-{aggregation}", LABELS, meta)
    Decision(temperature=temperature).save(folder)
    return folder


@pytest.mark.parametrize(
    ("family", "aggregation", "stride", "temperature"),
    [("bert", "mean", 0, 1.0), ("gpt2", "max", 3, 1.0), ("t5", "tokens", 5, 1.0), ("sbert", "confidence", 4, 1.7)],
)
def test_scores_cover_every_window_and_add_up_to_the_documents_probability(
    tiny_model_dir, tmp_path, family, aggregation, stride, temperature
) -> None:
    predictor = load_predictor(windowed(tiny_model_dir, tmp_path, family, aggregation, stride, temperature))
    found = Explainer(predictor).explain([LONG], steps=16)[0]
    # The attributed value is the document's probability as predict reports it (every window, pooled, calibrated).
    assert found.value == pytest.approx(float(predictor.predict_probs([LONG])[0, found.label_id]), abs=1e-5)
    assert abs(sum(found.scores) - (found.value - found.baseline_value)) <= 1e-3 + 0.05 * abs(found.value)
    assert found.truncated_words == 0 and not found.notes
    # Words past the first window move the probability too: windows, not truncation, were read.
    past = [score for (start, _), score in zip(found.spans, found.scores, strict=True) if start > len(LONG) // 2]
    assert np.abs(past).max() > 1e-6


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_a_head_tail_model_is_explained_on_the_head_and_tail_it_reads(tiny_model_dir, tmp_path, family) -> None:
    cut = {"cut": "head_tail", "head_share": 0.5}
    predictor = load_predictor(windowed(tiny_model_dir, tmp_path, family, "mean", 0, **cut))
    found = Explainer(predictor).explain([LONG], steps=16)[0]
    assert found.value == pytest.approx(float(predictor.predict_probs([LONG])[0, found.label_id]), abs=1e-5)
    assert abs(sum(found.scores) - (found.value - found.baseline_value)) <= 1e-3 + 0.05 * abs(found.value)
    # The row holds the first and the last few words; the middle of the text is never read, so it scores 0.
    middle = [score for (start, _), score in zip(found.spans, found.scores, strict=True)
              if len(LONG) // 3 < start < 2 * len(LONG) // 3]  # fmt: skip
    assert middle and np.abs(middle).max() == 0
    assert 0 < found.truncated_words < len(found.spans)  # the unread middle is counted, as truncation's tail is
    assert np.abs(found.scores[-1]) > 1e-6 or np.abs(found.scores[-2]) > 1e-6  # the tail is read


def test_the_windows_explain_reads_are_the_windows_predict_cuts(tiny_model_dir) -> None:
    from ratchet.models.load import load_for_classification

    for family in ("bert", "gpt2", "t5"):
        _, tokenizer = load_for_classification(str(tiny_model_dir(family)), LABELS)
        encoded = tokenizer(LONG, truncation=False, return_special_tokens_mask=True)
        positions, content = window_positions(
            np.asarray(encoded["special_tokens_mask"]), 12, 4, tokenizer.num_special_tokens_to_add(pair=False)
        )
        cut = encode_windows(tokenizer, [LONG], None, 12, 4)
        ids = np.asarray(encoded["input_ids"])
        assert len(positions) == len(cut.encoded.input_ids) > 2
        assert all(np.array_equal(ids[p], row) for p, row in zip(positions, cut.encoded.input_ids, strict=True))
        assert np.array_equal(content, cut.content)
