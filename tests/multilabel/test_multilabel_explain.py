"""Explaining multi-label models: each label on its own sigmoid probability, cue words first, scores that add up."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from multilabel_models import LABELS, cue_rows, one_vs_rest_folder, trained_sigmoid_folder

from ratchet.cli import main
from ratchet.explain.explainer import Explainer
from ratchet.explain.gradients import COMPLETENESS_TOLERANCE
from ratchet.models.decision import Decision
from ratchet.predictor import load_predictor

TEXTS = ["the senate of football and", "a laptop is on the", "of the and to"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = trained_sigmoid_folder(tmp_path_factory.mktemp("explain"))
    Decision(1.5, multilabel=True).save(folder)  # the temperature must reach the explained probability
    return folder


def test_the_fine_tune_learned_the_cue_words(trained) -> None:
    predictor = load_predictor(trained)
    assert predictor.predict_ids(predictor.predict_probs(TEXTS)).tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]


def test_ig_puts_each_labels_cue_word_first_and_adds_up_to_its_sigmoid_change(trained) -> None:
    predictor = load_predictor(trained)
    probs = predictor.predict_probs(TEXTS)
    explained = Explainer(predictor).explain(TEXTS)
    # One explanation per predicted label; the empty set of the last text explains its most probable label.
    assert [(e.row, e.target) for e in explained] == [(0, "politics"), (0, "sports"), (1, "tech"),
                                                      (2, LABELS[int(np.argmax(probs[2]))])]  # fmt: skip
    assert [e.predicted_labels for e in explained] == [["politics", "sports"]] * 2 + [["tech"], []]
    cue = {"politics": "senate", "sports": "football", "tech": "laptop"}
    for e in explained[:3]:
        assert e.top(1)[0][0] == cue[e.target]
        assert e.space == "probability" and e.label == e.target
        # The explained quantity is the label's calibrated sigmoid probability, as predict reports it ...
        assert e.value == pytest.approx(float(probs[e.row, e.label_id]), abs=1e-5)
        # ... and the scores add up to its change from the all-pad baseline (IG completeness).
        change = e.value - e.baseline_value
        assert abs(sum(e.scores) - change) <= 1e-3 + COMPLETENESS_TOLERANCE * abs(change)
        assert change > 0.3  # the cue word turns the label on: a change worth explaining


def test_target_explains_one_label_on_every_text(trained) -> None:
    explained = Explainer(load_predictor(trained)).explain(TEXTS, target="tech")
    assert [(e.row, e.target) for e in explained] == [(0, "tech"), (1, "tech"), (2, "tech")]
    assert explained[1].top(1)[0][0] == "laptop"


def test_the_one_vs_rest_model_gets_exact_log_odds_contributions(tmp_path) -> None:
    folder = one_vs_rest_folder(tmp_path / "linear")
    predictor = load_predictor(folder)
    explained = Explainer(predictor).explain(["the senate of football and"])
    assert [e.target for e in explained] == ["politics", "sports"]
    p = predictor.predict_probs(["the senate of football and"])[0]
    for e in explained:
        assert e.space == "logit" and e.top(1)[0][0] in {"senate", "football"}
        # intercept + word contributions = the label's log-odds, exactly
        assert e.value == pytest.approx(float(np.log(p[e.label_id] / (1 - p[e.label_id]))), abs=1e-4)
        assert e.baseline_value + sum(e.scores) == pytest.approx(e.value, abs=1e-9)


def test_cli_writes_one_record_per_label_and_refuses_an_unknown_target(trained, tmp_path, capsys) -> None:
    source = tmp_path / "texts.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(source, index=False)
    out = tmp_path / "why.jsonl"
    assert main(["explain", str(trained), str(source), "--out", str(out), "--quiet", "--top", "2"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["row"], r["target"]) for r in records][:3] == [(0, "politics"), (0, "sports"), (1, "tech")]
    assert records[0]["predicted_labels"] == ["politics", "sports"] and records[0]["top_words"][0][0] == "senate"
    html = tmp_path / "why.html"
    assert main(["explain", str(trained), str(source), "--out", str(html), "--quiet"]) == 0
    assert "predicted {politics, sports}" in html.read_text() and "predicted {no label}" in html.read_text()
    capsys.readouterr()
    assert main(["explain", str(trained), str(source), "--faithfulness", "--quiet"]) == 0
    printed = capsys.readouterr().out  # the 4 explanations of 3 rows, each ranked by IG, occlusion and at random
    assert all(f"  {name} " in printed for name in ("ig", "occlusion", "random"))
    assert main(["explain", str(trained), str(source), "--out", str(out), "--target", "weather", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'weather' is not a label of this model" in err[0] and "politics" in err[0]


def test_predict_explain_names_each_label_with_its_words(trained, tmp_path) -> None:
    source, out = tmp_path / "texts.csv", tmp_path / "p.csv"
    pd.DataFrame({"text": TEXTS[:2]}).to_csv(source, index=False)
    assert main(["predict", str(trained), str(source), "--out", str(out), "--quiet", "--explain", "--top", "1"]) == 0
    assert pd.read_csv(out)["top_words"].tolist() == ["politics: senate | sports: football", "tech: laptop"]


def test_the_report_explains_a_multilabel_run_label_by_label(tmp_path) -> None:
    texts, sets = cue_rows(90, seed=4, min_labels=1)
    data = tmp_path / "train.csv"
    labels = [json.dumps([LABELS[j] for j in np.flatnonzero(row)]) for row in sets]
    pd.DataFrame({"text": texts, "labels": labels}).to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(["run", str(data), "--out", str(out), "--model", "linear", "--quiet", "--steps",
                 "clean,split,baseline,evaluate,report", "gate.folds=holdout"]) == 0  # fmt: skip
    html = (out / "report.html").read_text(encoding="utf-8")
    why = html[html.index("Why the model decides") :]
    assert "No explanations" not in why
    assert "true labels" in why and "words toward" in why
    assert "Words each label relies on" in why
