"""The chunk step on a tiny BERT: right only with windows when the decisive word sits past max_length; skipped
when too few texts are long; a windowed model predicts the same way after it ships."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from chunk_docs import corpus, decisive_rows, short_rows, write_csv

from ratchet.config import RunConfig, apply_overrides
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json
from ratchet.pipeline import Pipeline
from ratchet.step_builders import build_steps

STEPS = ("clean", "split", "train", "chunk", "evaluate")
TRAIN = [
    "train.epochs=6", "train.min_steps=0", "train.learning_rate=0.003", "train.max_length=16", "train.max_tokens=512",
    "train.patience=6", "gate.folds=holdout", "data_params.valid_size=0.3",
]  # fmt: skip


def run_chunk(
    tmp_path: Path, model: Path, rows: list, test: list, *, named: bool, extra=(), steps=STEPS
) -> tuple[Path, dict]:
    """A run of STEPS; ``named=False`` gives chunk the preset's say (it runs only above chunk.threshold)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    data, test_csv = write_csv(tmp_path / "train.csv", rows), write_csv(tmp_path / "test.csv", test)
    config = RunConfig(data=str(data), test=str(test_csv), out=str(tmp_path / "run"), models=(str(model),),
                       steps=steps, seed=0)  # fmt: skip
    config = apply_overrides(config, [*TRAIN, *extra])
    built = build_steps(config)
    if not named:
        at = [step.name for step in built].index("chunk")
        built[at] = type(built[at])(dataclasses.replace(built[at].params, always=False))
    result = Pipeline(config, built, preflight=False).run()
    return Path(result.run_dir), {entry["step"]: entry for entry in result.ledger}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny BERT whose tokenizer reads every filler and cue word of chunk_docs as one token."""
    from ratchet.models.tiny import build_tiny_model

    return build_tiny_model("bert", corpus(), tmp_path_factory.mktemp("chunk-bert"), vocab_size=400, seed=0)


@pytest.fixture(scope="module")
def decisive_run(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("chunk-decisive")
    run, ledger = run_chunk(root, tiny_bert, decisive_rows(80, seed=1), decisive_rows(60, seed=2), named=False)
    return run, ledger, root / "test.csv"


def test_the_decisive_word_past_max_length_is_found_only_with_windows(decisive_run) -> None:
    run, ledger, _ = decisive_run
    train, chunk = ledger["train"], ledger["chunk"]
    assert train["status"] == "kept"  # (no baseline: the first model ships)
    assert train["after"] < 0.7  # filler only in the first 16 tokens: near chance (0.5) for two classes
    assert chunk["status"] == "kept" and chunk["after"] > 0.85 and chunk["p_better"] > 0.99
    report = chunk["chunk"]
    assert report["long_share"] == 1.0 and report["threshold"] == 0.1 and not report["named_in_recipe"]
    assert report["windows"]["max_windows_per_document"] == 2  # 19 tokens: [CLS] + 14 + [SEP], twice
    assert report["aggregation"] in report["aggregation_scores"]
    assert report["judged_with"] and set(report["judged_with"].values()) <= set(report["aggregation_scores"])
    meta = read_json(run / "model" / "ratchet.json")
    assert meta["windowing"] == {"stride": 0, "aggregation": report["aggregation"], "window": 16, "cut": "windows",
                                 "loss": "window"}  # fmt: skip
    assert report["loss"] == "window"  # the default: each window a row of its own
    # The sealed test, through the predictor: 0.81-0.92 over runs (one full-suite run gave 0.81), where a model
    # that reads only the first 16 tokens cannot beat chance (0.5).
    assert read_json(run / "metrics.json")["test"]["macro_f1"] > 0.75


def test_the_head_tail_cut_reads_the_decisive_end_in_one_row_a_text(tmp_path: Path, tiny_bert) -> None:
    """chunk.cut=head_tail: each text's first 4 and last 10 content tokens (a quarter of 14 from the start), so
    the cue words at the end are read, in one row a text; it ships and predicts with that cut."""
    import ratchet

    run, ledger = run_chunk(tmp_path, tiny_bert, decisive_rows(80, seed=1), decisive_rows(60, seed=2), named=False,
                            extra=["chunk.cut=head_tail"])  # fmt: skip
    train, chunk = ledger["train"], ledger["chunk"]
    assert train["after"] < 0.7 and chunk["status"] == "kept" and chunk["after"] > 0.85
    report = chunk["chunk"]
    assert report["cut"] == "head_tail" and report["head_share"] == 0.25
    assert report["windows"]["max_windows_per_document"] == 1 == report["windows"]["mean_windows_per_document"]
    assert "head and tail (25% of 16 tokens from its start" in chunk["shipped"]
    meta = read_json(run / "model" / "ratchet.json")
    assert meta["windowing"] == {"stride": 0, "aggregation": report["aggregation"], "window": 16, "cut": "head_tail",
                                 "head_share": 0.25}  # fmt: skip
    assert read_json(run / "metrics.json")["test"]["macro_f1"] > 0.75
    test = pd.DataFrame(decisive_rows(60, seed=2))
    predicted = ratchet.load(run, device="cpu").predict(test["review"].tolist())
    assert (np.asarray(predicted) == test["sentiment"].to_numpy()).mean() > 0.75  # chance is 0.5


def test_predict_and_load_apply_the_shipped_windowing(decisive_run, tmp_path: Path) -> None:
    import ratchet
    from ratchet.cli import main

    run, _, test_csv = decisive_run
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(test_csv), "--out", str(out), "--quiet"]) == 0
    predicted, truth = pd.read_csv(out), pd.read_csv(test_csv)
    windowed = (predicted["predicted_label"] == truth["sentiment"]).mean()
    assert windowed > 0.75  # 0.82-0.92 over runs; chance is 0.5
    model = ratchet.load(run, device="cpu")
    probs = model.predict_proba(truth["review"].tolist())
    np.testing.assert_allclose(probs, predicted[[c for c in predicted if c.startswith("prob_")]].to_numpy(), atol=1e-5)
    # The same model read through plain truncation (its windowing removed) is back near chance.
    plain = tmp_path / "plain"
    import shutil

    shutil.copytree(run / "model", plain)
    meta = read_json(plain / "ratchet.json")
    del meta["windowing"]
    (plain / "ratchet.json").write_text(__import__("json").dumps(meta))
    cut = ratchet.load(plain, device="cpu").predict(truth["review"].tolist())
    plain_accuracy = (np.asarray(cut) == truth["sentiment"].to_numpy()).mean()
    assert plain_accuracy < 0.75 and windowed - plain_accuracy >= 0.1


def test_below_the_threshold_the_step_is_skipped_saying_why(tmp_path: Path, tiny_bert) -> None:
    _, ledger = run_chunk(tmp_path / "short", tiny_bert, short_rows(40, seed=3), short_rows(10, seed=4), named=False,
                          extra=["train.epochs=1"])  # fmt: skip
    chunk = ledger["chunk"]
    assert chunk["status"] == "skipped" and chunk["chunk"]["long_share"] == 0.0
    assert chunk["note"].startswith("0.0% of the") and "longer than max_length=16" in chunk["note"]
    # A quarter of the texts long (the decisive run above, with every text long, is judged): at a threshold of
    # 0.3 it is skipped, naming the setting; named in the recipe, it would run whatever the share.
    rows, test = decisive_rows(10, seed=5) + short_rows(30, seed=6), short_rows(10, seed=8)
    _, mixed = run_chunk(tmp_path / "mixed", tiny_bert, rows, test, named=False,
                         extra=["train.epochs=1", "chunk.threshold=0.3"])  # fmt: skip
    assert 0.2 < mixed["chunk"]["chunk"]["long_share"] < 0.3
    assert mixed["chunk"]["status"] == "skipped" and "not more than chunk.threshold=0.3" in mixed["chunk"]["note"]


def test_the_presets_hold_chunk_after_train_and_only_a_named_chunk_always_runs() -> None:
    for preset in ("fast", "balanced", "best"):
        steps = build_steps(RunConfig(data="d.csv", out="r", preset=preset))
        names = [s.name for s in steps]
        assert names.index("chunk") == names.index("train") + 1
        assert steps[names.index("chunk")].params.always is False
    named = build_steps(RunConfig(data="d.csv", out="r", steps=STEPS))
    assert named[STEPS.index("chunk")].params.always is True
    # --ensemble on the fast preset puts ensemble after chunk, as the presets that have ensemble do.
    with_ensemble = build_steps(apply_overrides(RunConfig(data="d.csv", out="r"), ["search.ensemble=true"]))
    names = [s.name for s in with_ensemble]
    assert names[names.index("train") : names.index("train") + 3] == ["train", "chunk", "ensemble"]


def test_cross_fitted_it_is_judged_out_of_fold_and_the_refit_ships_with_its_windowing(tmp_path, tiny_bert) -> None:
    run, ledger = run_chunk(tmp_path, tiny_bert, decisive_rows(64, seed=11), decisive_rows(20, seed=12), named=True,
                            extra=["gate.folds=2"])  # fmt: skip
    chunk = ledger["chunk"]
    assert chunk["rows"] == chunk["chunk"]["rows"] == 64  # every train+valid row judged, out of fold
    assert chunk["crossfit"]["folds_run"] == chunk["crossfit"]["folds_planned"] == 2
    assert ledger["train"]["after"] < 0.7 and chunk["status"] == "kept" and chunk["after"] > 0.85
    assert "refit on all 64 train+valid rows" in chunk["shipped"]
    assert read_json(run / "model" / "ratchet.json")["windowing"]["window"] == 16
    assert read_json(run / "metrics.json")["test"]["macro_f1"] > 0.85  # the refit, windowed, on the sealed test


def test_when_the_baseline_ships_windows_face_the_baseline(tmp_path: Path, tiny_bert) -> None:
    # TF-IDF reads whole texts: the cue words anywhere give it every validation row, and the truncated fine-tune
    # (filler only) loses to it. chunk still runs, judged against the baseline; nothing beats 1.0, so rejected.
    steps = ("clean", "split", "baseline", "train", "chunk", "evaluate")
    _, ledger = run_chunk(tmp_path, tiny_bert, decisive_rows(80, seed=1), decisive_rows(20, seed=2), named=False,
                          steps=steps)  # fmt: skip
    assert ledger["baseline"]["after"] == 1.0 and ledger["train"]["status"] == "rejected"
    chunk = ledger["chunk"]
    assert chunk["chunk"]["reference"].startswith("the shipped TF-IDF baseline")
    assert chunk["status"] == "rejected" and chunk["reference"] == 1.0 and chunk["gain"] <= 0.0


def test_refit_all_refits_a_windowed_model_on_windows(tmp_path: Path, tiny_bert) -> None:
    import ratchet
    from ratchet.cli import main

    data = write_csv(tmp_path / "data.csv", decisive_rows(100, seed=21))
    out = tmp_path / "run"
    args = ["run", str(data), "--out", str(out), "--quiet", "--refit-all", "--model", str(tiny_bert),
            "--steps", "clean,split,train,chunk,evaluate", *TRAIN]  # fmt: skip
    assert main(args) == 0
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    assert ledger["chunk"]["status"] == "kept" and ledger["refit_all"]["status"] == "completed"
    shipped = read_json(out / "model" / "ratchet.json")
    assert shipped["windowing"]["window"] == 16 and "refit_all" in shipped
    assert shipped["windowing"]["loss"] == "window"  # the default, which refit_all reads back
    # Refit on windows, the decisive words past max_length are still read: right on fresh texts.
    fresh = decisive_rows(40, seed=22)
    predicted = ratchet.load(out, device="cpu").predict([row["review"] for row in fresh])
    assert (predicted == [row["sentiment"] for row in fresh]).mean() > 0.85


def test_each_fold_is_judged_with_the_pooling_chosen_on_the_other_folds() -> None:
    """A pooling that is right on exactly one fold is chosen for the other: choosing on the judged rows
    themselves would score 1.0 on each fold, chosen honestly the candidate scores what it would on new rows."""
    import numpy as np

    from ratchet.evaluation.metrics import score
    from ratchet.steps.chunk import _cross_chosen

    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    right, wrong = np.eye(2)[labels], np.eye(2)[1 - labels]
    pooled = {
        "mean": np.where((folds == 0)[:, None], right, wrong).astype(np.float32),
        "max": np.where((folds == 1)[:, None], right, wrong).astype(np.float32),
    }

    class JudgedRows:
        def empty(self):
            return np.full((len(labels), 2), np.nan, dtype=np.float32)

        def score(self, probs, metric):
            rows = ~np.isnan(probs).any(axis=1)
            return float(score(metric, labels[rows], probs[rows]))

    judged, choices = _cross_chosen(JudgedRows(), pooled, folds, "macro_f1")
    assert choices == {"0": "max", "1": "mean"}  # each fold gets the pooling the other fold prefers
    assert (judged.argmax(1) != labels).all()  # ...which is wrong on it: no flattering choice


def test_a_routed_chunk_ships_both_models_and_refit_all_refits_both(tmp_path: Path, tiny_bert) -> None:
    """chunk.route=always: texts that fit stay with train's fine-tune, long ones go to the windows; both ship in
    one folder, which --refit-all refits member by member."""
    import ratchet
    from ratchet.cli import main
    from ratchet.models.routed import LONG, MEMBERS, SHORT

    data = write_csv(tmp_path / "data.csv", decisive_rows(60, seed=31) + short_rows(40, seed=32))
    out = tmp_path / "run"
    args = ["run", str(data), "--out", str(out), "--quiet", "--refit-all", "--model", str(tiny_bert),
            "--steps", "clean,split,train,chunk,evaluate", *TRAIN, "chunk.route=always", "chunk.mix=[1]"]  # fmt: skip
    assert main(args) == 0
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    chunk = ledger["chunk"]
    assert chunk["status"] == "kept" and chunk["chunk"]["routed"] is True
    assert set(chunk["chunk"]["aggregation_scores"]) == {f"{how} (routed)" for how in ("mean", "max", "tokens",
                                                                                       "confidence")}  # fmt: skip
    assert 0 < chunk["chunk"]["judged_long_rows"] < chunk["rows"]
    assert chunk["shipped"].startswith("texts of at most 16 tokens read by the model that shipped before")
    shipped = read_json(out / "model" / "ratchet.json")
    assert shipped["kind"] == "routed" and shipped["route"] == {"window": 16} and "refit_all" in shipped
    assert ledger["refit_all"]["status"] == "completed"
    refit = read_json(next((out / "steps").glob("*-refit_all")) / "manifest.json")["metrics"]
    assert refit["kind"] == "routed" and refit["short"]["kind"] == refit["long"]["kind"] == "transformer"
    assert "windowing" in read_json(out / "model" / MEMBERS / LONG / "ratchet.json")
    assert "windowing" not in read_json(out / "model" / MEMBERS / SHORT / "ratchet.json")
    # The decisive words past max_length are read on long texts, the cue words of short ones by the short member.
    fresh = decisive_rows(20, seed=33) + short_rows(20, seed=34)
    predicted = ratchet.load(out, device="cpu").predict([row["review"] for row in fresh])
    assert (predicted == [row["sentiment"] for row in fresh]).mean() > 0.8


def test_cross_fitted_a_routed_chunk_ships_the_windowed_refit_beside_trains_refit(tmp_path: Path, tiny_bert) -> None:
    from ratchet.models.routed import LONG, MEMBERS, SHORT

    rows, test = decisive_rows(40, seed=41) + short_rows(24, seed=42), decisive_rows(10, seed=43) + short_rows(10, 44)
    # Two folds give the fold t-test one degree of freedom: the row bootstrap alone judges (what ships is tested here).
    extra = ["gate.folds=2", "gate.fold_test=recorded", "chunk.route=always"]
    run, ledger = run_chunk(tmp_path, tiny_bert, rows, test, named=True, extra=extra)
    chunk = ledger["chunk"]
    assert chunk["rows"] == 64 and chunk["crossfit"]["folds_run"] == 2 and chunk["chunk"]["routed"] is True
    assert chunk["chunk"]["judged_long_rows"] == 40  # every decisive row is long, no short row is
    assert chunk["status"] == "kept" and "the windowed model refit on all 64 train+valid rows" in chunk["shipped"]
    shipped = run / "model"
    assert read_json(shipped / "ratchet.json")["kind"] == "routed"
    # The short member is what train shipped (its refit), the long one chunk's windowed refit.
    train_model = next((run / "steps").glob("*-train")) / "model"
    assert read_json(shipped / MEMBERS / SHORT / "ratchet.json") == read_json(train_model / "ratchet.json")
    assert read_json(shipped / MEMBERS / LONG / "ratchet.json")["windowing"]["window"] == 16
    assert read_json(run / "metrics.json")["test"]["macro_f1"] > 0.8


def test_a_mixed_chunk_ships_both_models_reading_every_text(tmp_path: Path, tiny_bert) -> None:
    """chunk.mix=[0.5] without routing: the only options average the windows with train's fine-tune on every
    text; cross-fitted, the kept option ships train's refit and the windowed refit in one folder (window 0)."""
    import ratchet
    from ratchet.models.routed import LONG, MEMBERS, SHORT
    from ratchet.predictor import load_predictor

    rows, test = decisive_rows(40, seed=51) + short_rows(24, seed=52), decisive_rows(10, seed=53) + short_rows(10, 54)
    extra = ["gate.folds=2", "gate.fold_test=recorded", "chunk.route=never", "chunk.mix=[0.5]"]
    run, ledger = run_chunk(tmp_path, tiny_bert, rows, test, named=True, extra=extra)
    chunk = ledger["chunk"]
    assert set(chunk["chunk"]["aggregation_scores"]) == {f"{how} (mixed 0.5)" for how in ("mean", "max", "tokens",
                                                                                         "confidence")}  # fmt: skip
    assert chunk["status"] == "kept" and chunk["chunk"]["long_weight"] == 0.5 and chunk["chunk"]["routed"] is False
    assert chunk["shipped"].startswith("every text read by both: the fine-tune on windows of 16 tokens")
    shipped = run / "model"
    assert read_json(shipped / "ratchet.json")["route"] == {"window": 0, "long_weight": 0.5}
    texts = pd.read_csv(run.parent / "test.csv")["review"].tolist()
    members = [load_predictor(shipped / MEMBERS / name).predict_probs(texts) for name in (SHORT, LONG)]
    np.testing.assert_allclose(ratchet.load(run, device="cpu").predict_proba(texts), (members[0] + members[1]) / 2,
                               atol=1e-5)  # fmt: skip
    assert read_json(run / "metrics.json")["test"]["macro_f1"] > 0.8


def test_the_document_loss_learns_from_pooled_windows_and_refit_all_keeps_it(tmp_path, tiny_bert, monkeypatch) -> None:
    """chunk.loss=document (each text's loss on its windows' mean logits): kept where the decisive words sit past
    max_length, it ships recording how it learnt, and --refit-all refits it the same way."""
    import ratchet
    from ratchet.chunking import data as chunk_data
    from ratchet.cli import main

    losses = []
    cut_windows = chunk_data.window_task_data

    def spy(*args, **kwargs):
        found = cut_windows(*args, **kwargs)
        losses.append(found.loss)
        return found

    monkeypatch.setattr(chunk_data, "window_task_data", spy)
    data = write_csv(tmp_path / "data.csv", decisive_rows(100, seed=21))
    out = tmp_path / "run"
    args = ["run", str(data), "--out", str(out), "--quiet", "--refit-all", "--model", str(tiny_bert),
            "--steps", "clean,split,train,chunk,evaluate", *TRAIN, "chunk.loss=document"]  # fmt: skip
    assert main(args) == 0
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    chunk = ledger["chunk"]
    assert ledger["train"]["after"] < 0.7 and chunk["status"] == "kept" and chunk["after"] > 0.85
    assert chunk["chunk"]["loss"] == "document" and ledger["refit_all"]["status"] == "completed"
    assert losses == ["document", "document"]  # chunk's fit, then refit_all's
    assert "each text learnt from its windows' mean logits" in chunk["shipped"]
    windowing = read_json(out / "model" / "ratchet.json")["windowing"]
    assert windowing == {"stride": 0, "aggregation": chunk["chunk"]["aggregation"], "window": 16, "cut": "windows",
                         "loss": "document"}  # fmt: skip
    fresh = decisive_rows(40, seed=22)
    predicted = ratchet.load(out, device="cpu").predict([row["review"] for row in fresh])
    assert (predicted == [row["sentiment"] for row in fresh]).mean() > 0.85
    with pytest.raises(RatchetError, match=r"chunk\.loss='bag' is not allowed: use one of window, document"):
        apply_overrides(RunConfig(data=str(data), out=str(tmp_path / "bad")), ["chunk.loss=bag"])
