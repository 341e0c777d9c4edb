"""A routed model (chunk.route): texts that fit in one window go to the model that read whole texts, longer ones
to the windowed model; ratchet.load, the ONNX reader, serve's model and explain all route the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ratchet_testing import sharp_classifier_folder, synthetic_rows

import ratchet
from ratchet.cli import main
from ratchet.data.coverage import token_lengths
from ratchet.export import open_export
from ratchet.models.decision import Decision
from ratchet.models.routed import routed_probs, save_routed
from ratchet.predictor import load_predictor

LABELS = ["negative", "neutral", "positive"]
ROWS = synthetic_rows(60, seed=5)
TEXTS = [" ".join(r["review"] for r in ROWS[i : i + 1 + i % 5]) for i in range(0, 40, 2)] + ["great", "awful pain"]
WINDOW = 12


def linear_member(root: Path) -> Path:
    from ratchet.models.linear import LinearTextModel
    from ratchet.models.linear_folder import save_linear

    rows = synthetic_rows(120, seed=1)
    y = np.array([LABELS.index(r["sentiment"]) for r in rows])
    save_linear(LinearTextModel().fit([r["review"] for r in rows], y, 3), LABELS, root / "linear", {})
    Decision(0.8, None).save(root / "linear")
    return root / "linear"


def windowed_member(tiny_model_dir, root: Path) -> Path:
    meta = {"max_length": WINDOW, "windowing": {"stride": 0, "aggregation": "mean", "window": WINDOW}}
    folder = sharp_classifier_folder(tiny_model_dir("bert"), root / "windowed", LABELS, meta)
    Decision(1.3, None).save(folder)
    return folder


@pytest.fixture
def routed(tiny_model_dir, tmp_path) -> tuple[Path, Path, Path]:
    short, long = linear_member(tmp_path), windowed_member(tiny_model_dir, tmp_path)
    save_routed(short, long, tmp_path / "routed", WINDOW)
    return tmp_path / "routed", short, long


def test_each_text_is_read_by_the_member_its_length_calls_for(routed) -> None:
    folder, short, long = routed
    predictor = load_predictor(folder)
    lengths = token_lengths(predictor.base.long.base.tokenizer, TEXTS)
    is_long = lengths > WINDOW
    assert is_long.any() and (~is_long).any()
    expected = routed_probs(load_predictor(short).predict_probs(TEXTS), load_predictor(long).predict_probs(TEXTS),
                            is_long)  # fmt: skip
    np.testing.assert_allclose(ratchet.load(folder).predict_proba(TEXTS), expected, atol=1e-6)
    # The two members disagree on the texts: routing is what makes the match above, not a coincidence.
    assert np.abs(load_predictor(short).predict_probs(TEXTS) - load_predictor(long).predict_probs(TEXTS)).max() > 0.05


def test_a_text_of_exactly_one_window_stays_with_the_short_member(routed) -> None:
    folder, _, _ = routed
    predictor = load_predictor(folder).base
    tokenizer = predictor.long.base.tokenizer
    words = " ".join(r["review"] for r in ROWS).split()
    fits = next(" ".join(words[:n]) for n in range(1, len(words)) if token_lengths(tokenizer, [" ".join(words[:n])])[0] == WINDOW)  # fmt: skip # noqa: E501
    over = next(" ".join(words[:n]) for n in range(1, len(words)) if token_lengths(tokenizer, [" ".join(words[:n])])[0] > WINDOW)  # fmt: skip # noqa: E501
    assert predictor.members_for(fits) == [(predictor.short, 1.0)]
    assert predictor.members_for(over) == [(predictor.long, 1.0)]


def test_the_onnx_export_routes_as_ratchet_does(routed, tmp_path) -> None:
    import json

    folder, _, _ = routed
    export = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    spec = json.loads((export / "export.json").read_text())
    assert spec["model"]["kind"] == "routed" and spec["model"]["window"] == WINDOW
    assert [m["kind"] for m in spec["model"]["members"]] == ["linear", "onnx"]
    np.testing.assert_allclose(open_export(export).predict_proba(TEXTS), ratchet.load(folder).predict_proba(TEXTS),
                               atol=1e-5)  # fmt: skip
    assert "routed: texts of at most 12 tokens" in (export / "README.md").read_text()


def test_serve_answers_with_the_routed_model(routed) -> None:
    from ratchet.serve.app import ServeConfig, _Model

    folder, _, _ = routed
    served = _Model(ServeConfig(source=str(folder)))
    np.testing.assert_allclose(served.predict_proba(TEXTS), ratchet.load(folder).predict_proba(TEXTS), atol=1e-6)


def test_explain_asks_the_member_that_reads_the_text(routed) -> None:
    from ratchet.explain.explainer import Explainer

    folder, short, long = routed
    short_text, long_text = TEXTS[-2], TEXTS[1]
    found = Explainer(load_predictor(folder)).explain([short_text, long_text], steps=16)
    alone = [Explainer(load_predictor(short)).explain([short_text])[0],
             Explainer(load_predictor(long)).explain([long_text], steps=16)[0]]  # fmt: skip
    for routed_one, member_one in zip(found, alone, strict=True):
        assert routed_one.space == member_one.space and routed_one.label == member_one.label
        np.testing.assert_allclose(routed_one.scores, member_one.scores, atol=1e-6)


def test_routed_options_take_the_reference_on_texts_that_fit() -> None:
    from ratchet.chunking.options import Option, chunk_options

    windows = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    reference = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]], dtype=np.float32)
    is_long = np.array([True, False, False])

    def names(route: str, mix=(1.0,), ref=reference) -> list[str]:
        return list(chunk_options({"mean": windows}, ref, is_long, route, mix))

    both = chunk_options({"mean": windows}, reference, is_long, "auto", (1.0,))
    assert list(both) == ["mean", "mean (routed)"]  # the plain option first: a tie keeps one model, not two
    assert both["mean (routed)"][0] == Option("mean", routed=True)
    np.testing.assert_array_equal(both["mean (routed)"][1], np.array([[0.9, 0.1], [0.7, 0.3], [0.5, 0.5]], np.float32))
    assert names("always") == ["mean (routed)"] and names("never") == ["mean"]
    assert names("auto", ref=None) == ["mean"]  # nothing to route to
    assert names("auto", ref=None, mix=(1.0, 0.5)) == ["mean"]  # nor to mix with


def test_mixed_options_average_the_windows_with_the_reference_where_the_windows_read() -> None:
    from ratchet.chunking.options import Option, chunk_options

    windows = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    reference = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]], dtype=np.float32)
    is_long = np.array([True, False, False])
    options = chunk_options({"mean": windows}, reference, is_long, "auto", (0.5, 1.0))
    # The windows alone first, whatever order the weights were given in.
    assert list(options) == ["mean", "mean (routed)", "mean (mixed 0.5)", "mean (routed, mixed 0.5)"]
    everywhere, on_long = options["mean (mixed 0.5)"], options["mean (routed, mixed 0.5)"]
    assert everywhere[0] == Option("mean", routed=False, long_weight=0.5) and everywhere[0].needs_reference
    np.testing.assert_allclose(everywhere[1], (windows + reference) / 2)
    np.testing.assert_allclose(on_long[1], [[0.5, 0.5], [0.7, 0.3], [0.5, 0.5]])  # short rows: the reference's
    assert not Option("max").needs_reference


def test_the_ledger_says_which_models_read_which_texts() -> None:
    from ratchet.chunking.options import Option, describe
    from ratchet.chunking.params import ChunkParams

    plain = ChunkParams()

    windows = ("the fine-tune on windows of 16 tokens (overlapping by half; window by window), window predictions "
               "pooled by mean")  # fmt: skip
    assert describe(Option("mean"), plain, 16) == windows
    by_document = describe(Option("mean"), ChunkParams(loss="document"), 16)
    assert by_document == windows.replace("window by window", "each text learnt from its windows' mean logits")
    assert describe(Option("mean", routed=True), plain, 16) == (
        f"texts of at most 16 tokens read by the model that shipped before, longer ones by {windows}"
    )
    mixed = f"{windows} (weight 0.5) and the model that shipped before (weight 0.5), probabilities mixed"
    assert describe(Option("mean", long_weight=0.5), plain, 16) == f"every text read by both: {mixed}"
    assert describe(Option("mean", routed=True, long_weight=0.5), plain, 16) == (
        f"texts of at most 16 tokens read by the model that shipped before, longer ones by both: {mixed}"
    )
    head_tail = ChunkParams(cut="head_tail", head_share=0.5)
    assert describe(Option("mean", routed=True), head_tail, 16) == (
        "texts of at most 16 tokens read by the model that shipped before, longer ones by the fine-tune on each "
        "text's head and tail (50% of 16 tokens from its start, the rest from its end)"
    )


@pytest.fixture
def mixed(routed, tmp_path) -> tuple[Path, Path, Path]:
    _, short, long = routed
    save_routed(short, long, tmp_path / "mixed", WINDOW, long_weight=0.25)
    return tmp_path / "mixed", short, long


def test_a_mixed_folder_weighs_both_members_on_long_texts(mixed) -> None:
    folder, short, long = mixed
    predictor = load_predictor(folder)
    assert predictor.base.meta["route"] == {"window": WINDOW, "long_weight": 0.25}
    is_long = token_lengths(predictor.base.long.base.tokenizer, TEXTS) > WINDOW
    short_probs, long_probs = load_predictor(short).predict_probs(TEXTS), load_predictor(long).predict_probs(TEXTS)
    expected = np.where(is_long[:, None], 0.25 * long_probs + 0.75 * short_probs, short_probs)
    np.testing.assert_allclose(ratchet.load(folder).predict_proba(TEXTS), expected, atol=1e-6)
    over = predictor.base.members_for(TEXTS[1])
    assert is_long[1] and over == [(predictor.base.long, 0.25), (predictor.base.short, 0.75)]


def test_a_mixed_folder_with_window_0_mixes_every_text(routed, tmp_path) -> None:
    _, short, long = routed
    save_routed(short, long, tmp_path / "everywhere", 0, long_weight=0.5)
    expected = 0.5 * load_predictor(short).predict_probs(TEXTS) + 0.5 * load_predictor(long).predict_probs(TEXTS)
    np.testing.assert_allclose(ratchet.load(tmp_path / "everywhere").predict_proba(TEXTS), expected, atol=1e-6)


def test_the_onnx_export_mixes_as_ratchet_does(mixed, tmp_path) -> None:
    import json

    folder, _, _ = mixed
    export = tmp_path / "export-mixed"
    assert main(["export", str(folder), "--out", str(export)]) == 0
    assert json.loads((export / "export.json").read_text())["model"]["long_weight"] == 0.25
    np.testing.assert_allclose(open_export(export).predict_proba(TEXTS), ratchet.load(folder).predict_proba(TEXTS),
                               atol=1e-5)  # fmt: skip
    assert "longer ones to both, weighted 0.25 (second) / 0.75 (first)" in (export / "README.md").read_text()


def test_explain_weighs_both_members_of_a_mixed_long_text(mixed) -> None:
    from ratchet.explain.explainer import Explainer

    folder, _, long = mixed
    long_text = TEXTS[1]
    found = Explainer(load_predictor(folder)).explain([long_text], steps=16)[0]
    reported = float(load_predictor(folder).predict_probs([long_text])[0, found.label_id])
    assert found.space == "probability" and found.value == pytest.approx(reported, abs=1e-5)
    # Both members speak: the windowed member alone would give other scores and another value.
    alone = Explainer(load_predictor(long)).explain([long_text], target=found.label, steps=16)[0]
    assert not np.allclose(found.scores, alone.scores, atol=1e-3) and found.value != pytest.approx(alone.value)


def test_a_bad_route_is_a_one_line_error() -> None:
    from ratchet.chunking.params import ChunkParams
    from ratchet.errors import RatchetError

    with pytest.raises(RatchetError, match=r"chunk\.route='sometimes' is not allowed: use one of auto, always, never"):
        ChunkParams(route="sometimes")


def test_a_temperature_on_the_routed_folder_reaches_the_explaining_member(routed) -> None:
    """calibrate may put a temperature on the routed folder: the explanation's value is still the probability
    predict reports, because the member explains at its temperature times the folder's."""
    from ratchet.explain.explainer import Explainer

    folder, _, _ = routed
    Decision(1.5, None).save(folder)
    predictor = load_predictor(folder)
    long_text = TEXTS[1]
    found = Explainer(predictor).explain([long_text], steps=16)[0]
    reported = float(predictor.predict_probs([long_text])[0, found.label_id])
    assert found.value == pytest.approx(reported, abs=1e-5)
    uncalibrated = float(predictor.base.predict_probs([long_text])[0, found.label_id])
    assert found.value != pytest.approx(uncalibrated, abs=1e-4)  # the folder's temperature moved it
