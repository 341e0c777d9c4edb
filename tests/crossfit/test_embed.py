"""embed: a frozen encoder's embeddings + logistic regression, blended with TF-IDF when no fine-tune ships."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ratchet_testing import FAST_TRAIN, synthetic_rows, write_train_test

from ratchet.cli import main
from ratchet.fsutil import read_json
from ratchet.models.embedding_model import EmbeddingHead, save_embedding_model
from ratchet.predictor import load_predictor
from ratchet.relabel.features import embed

LABELS = ["negative", "neutral", "positive"]


def test_an_embedding_model_folder_predicts_what_its_head_does(tiny_model_dir, tmp_path: Path) -> None:
    rows = synthetic_rows(60, seed=3)
    texts, y = [r["review"] for r in rows], np.array([LABELS.index(r["sentiment"]) for r in rows])
    backbone = str(tiny_model_dir("bert"))
    x = embed(backbone, texts, max_length=32)
    head = EmbeddingHead.fit(x, y, 3, C=1.0)
    save_embedding_model(head, backbone, 32, LABELS, tmp_path / "model", {"backbone": backbone})
    assert read_json(tmp_path / "model" / "ratchet.json")["kind"] == "embedding"
    assert not list((tmp_path / "model").rglob("*.bin")) and not list((tmp_path / "model").rglob("*.joblib"))
    predictor = load_predictor(tmp_path / "model")
    np.testing.assert_allclose(predictor.predict_probs(texts[:10]), head.predict_proba(x[:10]), atol=1e-5)
    assert predictor.labels == LABELS


def test_embed_stands_aside_for_a_shipped_fine_tune_and_is_judged_otherwise(tiny_model_dir, tmp_path: Path) -> None:
    data, test = write_train_test(tmp_path, 90, 24, seed=9)
    base = ["run", str(data), "--test", str(test), "--quiet", "--model", str(tiny_model_dir("bert")), *FAST_TRAIN]
    out = tmp_path / "alone"
    assert main([*base, "--out", str(out), "--steps", "clean,split,baseline,embed,evaluate"]) == 0
    entry = {e["step"]: e for e in read_json(out / "ledger.json")}["embed"]
    metrics = read_json(out / "steps" / "04-embed" / "manifest.json")["metrics"]
    assert 0.0 <= metrics["baseline_weight"] <= 1.0 and metrics["embedding_macro_f1"] is not None
    # TF-IDF reads the synthetic cue words perfectly on these validation rows: no blend can gain on it, so the
    # judged candidate is rejected (and recorded, with its weights chosen on the other folds).
    assert entry["reference"] == 1.0 and entry["status"] == "rejected" and entry["gain"] <= 0
    assert len(metrics["fold_weights"]) == 5
    after = tmp_path / "after"
    steps = "clean,split,baseline,train,embed,evaluate"
    assert main([*base, "--out", str(after), "--steps", steps, "gate.min_gain=-1", "gate.confidence=0"]) == 0
    entry = {e["step"]: e for e in read_json(after / "ledger.json")}["embed"]
    assert entry["status"] == "skipped" and "a transformer model, not the baseline" in entry["note"]
