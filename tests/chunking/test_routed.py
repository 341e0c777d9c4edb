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
    assert predictor.member_for(fits) is predictor.short and predictor.member_for(over) is predictor.long


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
    from ratchet.steps.chunk import ROUTED, _parse_option, _with_routes

    windows = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    reference = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]], dtype=np.float32)
    is_long = np.array([True, False, False])
    both = _with_routes({"mean": windows}, reference, is_long, "auto")
    assert list(both) == ["mean", f"mean{ROUTED}"]  # the plain option first: a tie keeps one model, not two
    np.testing.assert_array_equal(both[f"mean{ROUTED}"], np.array([[0.9, 0.1], [0.7, 0.3], [0.5, 0.5]], np.float32))
    assert list(_with_routes({"mean": windows}, reference, is_long, "always")) == [f"mean{ROUTED}"]
    assert list(_with_routes({"mean": windows}, reference, is_long, "never")) == ["mean"]
    assert list(_with_routes({"mean": windows}, None, is_long, "auto")) == ["mean"]  # nothing to route to
    assert _parse_option(f"max{ROUTED}") == ("max", True) and _parse_option("max") == ("max", False)


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
