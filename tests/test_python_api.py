"""A trained model outside ratchet's CLI: ratchet.load, TextClassifier, and the Hugging Face habits.

The usual loading paths must be right or refuse loudly: before, AutoModelForSequenceClassification
loaded a mean-head folder with a random classifier and a warning only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from ratchet_testing import FAST_TRAIN, synthetic_rows

import ratchet
from ratchet.cli import main
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json

STEPS = "clean,split,train,evaluate"


def cli_predictions(run: Path, test: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(test), "--out", str(out), "--quiet"]) == 0
    return pd.read_csv(out)


def test_load_predicts_what_ratchet_predict_writes(sbert_run, tmp_path: Path) -> None:
    run, test = sbert_run
    expected = cli_predictions(run, test, tmp_path)
    texts = pd.read_csv(test)["review"]
    model = ratchet.load(run)
    assert list(model.classes_) == ["negative", "neutral", "positive"]
    probs = model.predict_proba(texts)  # a pandas Series works like a list
    np.testing.assert_allclose(probs, expected[[f"prob_{c}" for c in model.classes_]].to_numpy(), atol=1e-6)
    assert list(model.predict(texts.tolist())) == expected["predicted_label"].tolist()
    assert list(ratchet.load(run / "model").predict(texts[:3])) == expected["predicted_label"].tolist()[:3]
    assert model.predict([]).shape == (0,) and model.predict_proba([]).shape == (0, 3)


def test_load_refuses_one_string_and_missing_folders(sbert_run, tmp_path: Path) -> None:
    run, _ = sbert_run
    model = ratchet.load(run)
    with pytest.raises(RatchetError, match=r"not one string: wrap it"):
        model.predict("a single text")
    with pytest.raises(RatchetError, match=r"not a run folder|run folder not found"):
        ratchet.load(tmp_path / "nowhere")
    with pytest.raises(RatchetError, match=r"this model does not read text pairs|pass one pair per text"):
        model.predict_proba(["a", "b"], pairs=["only one"])


def test_hugging_face_auto_classes_refuse_the_folder_by_name(sbert_run) -> None:
    from transformers import AutoModelForSequenceClassification, pipeline

    run, _ = sbert_run
    with pytest.raises(ValueError, match=r"ratchet\.load"):
        AutoModelForSequenceClassification.from_pretrained(run / "model")
    with pytest.raises(ValueError, match=r"ratchet\.load"):
        pipeline("text-classification", model=str(run / "model"))
    assert "ratchet.load" in (run / "model" / "README.md").read_text()


def test_sentence_transformers_reads_the_same_classifier(sbert_run, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    run, test = sbert_run
    assert not (run / "model" / "decision.json").exists()  # no calibration in this recipe: probabilities match
    expected = cli_predictions(run, test, tmp_path)
    labels = read_json(run / "model" / "labels.json")["labels"]
    texts = pd.read_csv(test)["review"].tolist()
    logits = SentenceTransformer(str(run / "model"), device="cpu").encode(texts, convert_to_tensor=True)
    probs = torch.softmax(logits.float(), -1).numpy()
    np.testing.assert_allclose(probs, expected[[f"prob_{c}" for c in labels]].to_numpy(), atol=1e-5)


def test_other_model_kinds_refuse_the_auto_classes_too(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from ratchet.models.linear import LinearTextModel
    from ratchet.models.linear_folder import save_linear

    rows = synthetic_rows(60, seed=3)
    labels = ["negative", "neutral", "positive"]
    y = np.array([labels.index(r["sentiment"]) for r in rows])
    save_linear(LinearTextModel().fit([r["review"] for r in rows], y, 3), labels, tmp_path / "model", {})
    with pytest.raises(ValueError, match=r"ratchet\.load"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    assert next(iter(ratchet.load(tmp_path / "model").predict(["really good pill"]))) in labels


def test_a_shipped_ensemble_is_not_a_backbone(tmp_path: Path) -> None:
    from ratchet.models.check import check_model_source

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "ratchet.json").write_text('{"kind": "ensemble"}')
    with pytest.raises(RatchetError, match="kind 'ensemble', not a backbone"):
        check_model_source(str(folder))


def test_text_classifier_is_a_scikit_learn_estimator(tiny_model_dir) -> None:
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    rows = synthetic_rows(96, seed=4)
    texts, labels = [r["review"] for r in rows], [r["sentiment"] for r in rows]
    estimator = ratchet.TextClassifier(models=(str(tiny_model_dir("bert")),), steps=STEPS.split(","),
                                       overrides=FAST_TRAIN)  # fmt: skip
    copy = clone(estimator)
    assert copy.get_params()["overrides"] == FAST_TRAIN and copy is not estimator
    with pytest.raises(RatchetError, match="not fitted yet"):
        copy.predict(["text"])
    scores = cross_val_score(estimator, texts, labels, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    longer = [*FAST_TRAIN, "train.epochs=12", "train.patience=12"]  # what the tiny model needs to learn the cues
    fitted = clone(estimator).set_params(overrides=longer).fit(texts[:60], labels[:60])
    assert fitted.run_dir_.is_dir() and [e["step"] for e in fitted.ledger_] == STEPS.split(",")
    predicted = fitted.predict(texts[60:])
    assert set(predicted) <= set(labels) and fitted.predict_proba(texts[60:]).shape == (36, 3)
    # score() is accuracy against the labels, computed from what predict returns.
    assert fitted.score(texts[60:], labels[60:]) == pytest.approx(np.mean(predicted == np.array(labels[60:])))
    # Three cue words make this task easy: a working fit beats chance (1/3) on the rows it did not see.
    assert fitted.score(texts[60:], labels[60:]) > 0.5
