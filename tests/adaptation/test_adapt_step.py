"""The adapt step inside a real pipeline: gated decision, manifest metrics, test texts kept out, shipped tokenizer."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
from ratchet_testing import FILLER, WORDS
from transformers import AutoTokenizer

from ratchet.cli import main
from ratchet.config import AdaptParams, GateParams, RunConfig, TrainParams
from ratchet.fsutil import read_json
from ratchet.pipeline import Pipeline

STEPS = ("clean", "split", "adapt", "train", "evaluate")
CJK_CUE = {"positive": "很好", "negative": "很差", "neutral": "一般"}


def rows(n: int, seed: int) -> list[dict[str, str]]:
    """English cue words plus a Chinese cue the tiny tokenizer has never seen (so vocabulary extension applies)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = list(WORDS)[i % 3]
        words = rng.sample(FILLER, 5) + rng.sample(WORDS[label], 2) + [CJK_CUE[label]]
        rng.shuffle(words)
        out.append({"review": " ".join(words) + f" {seed}x{i}", "sentiment": label})
    return out


def test_adapt_in_a_pipeline(tiny_model_dir, tmp_path: Path) -> None:
    data, test, unlabeled = tmp_path / "train.csv", tmp_path / "test.csv", tmp_path / "unlabeled.txt"
    pd.DataFrame(rows(72, seed=1)).to_csv(data, index=False)
    test_rows = rows(30, seed=2)
    pd.DataFrame(test_rows).to_csv(test, index=False)
    # The unlabeled file holds fresh in-domain text AND every test text (one re-spaced): none may be used.
    extra = [r["review"] for r in rows(60, seed=3)] + [r["review"] for r in test_rows]
    extra[-1] = "  " + extra[-1].upper().replace(" ", "   ")
    unlabeled.write_text("\n".join(extra) + "\n", encoding="utf-8")
    config = RunConfig(
        data=str(data), test=str(test), out=str(tmp_path / "run"), models=(str(tiny_model_dir("bert")),),
        steps=STEPS,
        train=TrainParams(min_steps=0, epochs=1, learning_rate=3e-3, max_length=32, max_tokens=512),
        adapt=AdaptParams(unlabeled=str(unlabeled), epochs=2, learning_rate=5e-3, max_length=32, max_tokens=512),
        # Keep any candidate, so that the test can follow the adapted backbone into train and predict;
        # the decision is still judged and recorded.
        gate=GateParams(min_gain=-1.0, confidence=0.0, n_bootstrap=200, folds="holdout"),
    )  # fmt: skip
    result = Pipeline.from_config(config).run()
    run = result.run_dir

    entry = next(e for e in result.ledger if e["step"] == "adapt")
    assert entry["status"] == "kept" and entry["gated"]
    for key in ("reference", "candidate", "gain", "ci", "p_better", "reason"):
        assert entry[key] is not None, key
    manifest = read_json(run / "steps" / "03-adapt" / "manifest.json")
    metrics = manifest["metrics"]
    corpus = metrics["corpus"]
    assert corpus["removed_test"] == 30  # every test text, the re-spaced one included
    assert corpus["from_unlabeled"] == 60 and corpus["rows"] == corpus["from_train"] + 60
    assert metrics["objective"] == "mlm"
    assert metrics["vocab"]["tokens_added"] >= 5  # 很 好 差 一 般
    assert metrics["coverage_after"]["coverage"] > metrics["coverage_before"]["coverage"]
    pretrain = metrics["pretrain"]
    assert pretrain["steps"] == pretrain["total_steps"] > 0 and pretrain["loss_curve"]
    assert pretrain["lm_head_initialized"] is False  # the tiny checkpoint ships its MLM head
    assert pretrain["heldout_loss_after"] < pretrain["heldout_loss_before"]
    assert set(metrics["probe"]) == {"epochs", "adapted", "original"}
    assert metrics["probe"]["epochs"] == 1.0  # by default the probes train as long as train does

    adapted = Path(read_json(run / "steps" / "03-adapt" / "backbone.json")["model"])
    assert adapted.is_dir()
    train_manifest = read_json(run / "steps" / "04-train" / "manifest.json")
    assert train_manifest["metrics"]["backbone"] == str(adapted)
    # The adapted probe was that very fine-tune (same backbone, parameters, data, seed): train ships it.
    assert train_manifest["metrics"]["reused_fit"] is True
    assert train_manifest["metrics"]["best_valid_macro_f1"] == metrics["probe"]["adapted"]["valid_macro_f1"]
    # The shipped model tokenizes with the extended vocabulary, and predict uses it.
    shipped = AutoTokenizer.from_pretrained(run / "model")
    assert len(shipped) == metrics["vocab"]["vocab_after"] > 300
    assert shipped.unk_token_id not in shipped("很好", add_special_tokens=False)["input_ids"]
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(test), "--out", str(out), "--quiet"]) == 0
    assert len(pd.read_csv(out)) == 30
    assert read_json(run / "metrics.json")["test"]["n"] == 30


def test_adapt_skips_an_encoder_decoder(tiny_model_dir, sentiment_csv, sentiment_test_csv, tmp_path) -> None:
    config = RunConfig(
        data=str(sentiment_csv), test=str(sentiment_test_csv), out=str(tmp_path / "run"),
        models=(str(tiny_model_dir("t5")),), steps=("clean", "split", "adapt"),
    )  # fmt: skip
    entry = Pipeline.from_config(config).run().ledger[-1]
    assert entry["status"] == "skipped" and "span-corruption" in entry["note"]
