"""The run's fit cache: an identical fine-tune (backbone, parameters, data, seed) runs once per run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from ratchet_testing import WORDS, synthetic_rows, write_train_test

from ratchet.cli import main
from ratchet.config import TrainParams
from ratchet.data.frames import Split
from ratchet.finetuning.finetune import TaskData, finetune
from ratchet.finetuning.fitcache import FitCache
from ratchet.fsutil import read_json
from ratchet.predictor import load_predictor
from ratchet.training.plan import TooLittleTime

PARAMS = TrainParams(min_steps=0, epochs=2, learning_rate=3e-3, max_length=32, max_tokens=256, batch_size=8)


def task_data() -> TaskData:
    labels = sorted(WORDS)

    def split(rows: list[dict[str, str]]) -> Split:
        ids = np.array([labels.index(r["sentiment"]) for r in rows], dtype=np.int64)
        return Split(texts=[r["review"] for r in rows], pairs=None, label_ids=ids, weights=None)

    return TaskData(split(synthetic_rows(40, seed=1)), split(synthetic_rows(12, seed=2)), labels)


def cache_for(tmp_path: Path, configured: TrainParams = PARAMS) -> FitCache:
    return FitCache.for_run(tmp_path / "run", "cpu", configured)


def test_an_identical_fit_is_read_back_with_its_model(tiny_model_dir, tmp_path) -> None:
    model, data, cache = str(tiny_model_dir("bert")), task_data(), cache_for(tmp_path)
    first = finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "a", deadline=None,
                     cache=cache)  # fmt: skip
    assert not first.reused and first.steps > 0
    started = time.time()
    shipped = tmp_path / "shipped"
    again = finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "b", deadline=None,
                     cache=cache, save_to=shipped, save_meta={"backbone": "tiny"})  # fmt: skip
    assert again.reused and time.time() - started < 5
    np.testing.assert_array_equal(again.valid_probs, first.valid_probs)
    assert again.best_score == first.best_score and again.history == first.history
    # The configured parameters' fit kept its model: it ships as the step's own, with the step's meta.
    assert read_json(shipped / "ratchet.json")["backbone"] == "tiny"
    predicted = load_predictor(shipped).predict_probs(data.valid.texts, None)
    np.testing.assert_allclose(predicted, first.valid_probs, atol=1e-5)


def test_other_parameters_seeds_or_data_are_other_fits(tiny_model_dir, tmp_path) -> None:
    model, cache, data = str(tiny_model_dir("bert")), cache_for(tmp_path), task_data()
    key = cache.key(model, PARAMS, 0, data)
    assert cache.key(model, PARAMS, 1, data) != key
    assert cache.key(model, TrainParams(**{**PARAMS.__dict__, "learning_rate": 1e-3}), 0, data) != key
    relabeled = task_data()
    relabeled.train.label_ids[0] = (relabeled.train.label_ids[0] + 1) % 3
    assert cache.key(model, PARAMS, 0, relabeled) != key  # another label is other data
    assert cache.key(model, PARAMS, 0, task_data()) == key  # the same content is the same data
    assert cache.key(model, PARAMS, 0, data, select_best=False) != key  # a cross-fitted fold's final weights
    assert cache.keeps_model(PARAMS) and not cache.keeps_model(TrainParams())


def test_a_fit_without_a_kept_model_is_retrained_when_a_model_is_needed(tiny_model_dir, tmp_path) -> None:
    model, data = str(tiny_model_dir("bert")), task_data()
    cache = cache_for(tmp_path, configured=TrainParams())  # PARAMS are not the configured ones: no model kept
    finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "a", deadline=None, cache=cache)
    assert finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "b", deadline=None,
                    cache=cache).reused  # fmt: skip
    needs_model = finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "c", deadline=None,
                           cache=cache, save_to=tmp_path / "m")  # fmt: skip
    assert not needs_model.reused and (tmp_path / "m" / "ratchet.json").is_file()


def test_a_fit_shortened_to_the_budget_is_not_stored(tiny_model_dir, tmp_path) -> None:
    model, data, cache = str(tiny_model_dir("bert")), task_data(), cache_for(tmp_path)
    long = TrainParams(**{**PARAMS.__dict__, "epochs": 10_000.0})
    planned = finetune(model, data, long, device="cpu", seed=0, checkpoint_dir=tmp_path / "a",
                       deadline=time.time() + 8, cache=cache)  # fmt: skip
    assert planned.plan is not None and planned.plan["epochs"] < 10_000  # fitted to the time, not cut
    assert cache.load(cache.key(model, long, 0, data)) is None  # what an unhurried fit gives is another fit
    with pytest.raises(TooLittleTime):
        finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "b",
                 deadline=time.time() - 1, cache=cache)  # fmt: skip


def test_select_search_and_train_share_the_configured_fit(tiny_model_dir, tmp_path) -> None:
    data, test = write_train_test(tmp_path, 60, 15, seed=21)
    out = tmp_path / "run"
    args = [
        "run",
        str(data),
        "--test",
        str(test),
        "--out",
        str(out),
        "--quiet",
        "--steps",
        "clean,split,select,search,train,evaluate",
        "select.include_default=false",
        "select.include_linear=false",
        "fewshot.enter=never",  # the tiny data's classes are few-shot sized: this test is about standard fine-tunes
    ]
    args += ["--model", str(tiny_model_dir("bert")), "--model", str(tiny_model_dir("sbert"))]  # two: select trains
    settings = [
        "train.epochs=2",
        "train.min_steps=0",
        "train.learning_rate=0.003",
        "gate.folds=holdout",
        "train.max_length=32",
        "train.max_tokens=256",
    ]
    # No trial can gain 1.0: search is rejected, so train uses the configured parameters.
    assert main([*args, *settings, "search.n_trials=2", "gate.min_gain=1.0"]) == 0
    steps = {p.name.split("-", 1)[1]: p for p in (out / "steps").iterdir()}
    select = read_json(steps["select"] / "manifest.json")["metrics"]
    search = read_json(steps["search"] / "manifest.json")["metrics"]
    train = read_json(steps["train"] / "manifest.json")["metrics"]
    winner = next(c for c in select["candidates"] if c["name"] == search["backbone"] == select["winner"])
    full = [f for f in winner["fits"] if f["epochs"] == pytest.approx(2)]
    assert full, "select trained the configured model for its full length"
    reference = next(t for t in search["history"] if t["reference"])
    assert reference["reused_fit"] is True  # select had fitted exactly this
    assert reference["value"] == pytest.approx(full[0]["valid_macro_f1"])
    assert train["reused_fit"] is True
    assert train["best_valid_macro_f1"] == pytest.approx(reference["value"])
    ledger = {e["step"]: e for e in read_json(out / "ledger.json")}
    assert ledger["search"]["status"] == "rejected" and ledger["train"]["seconds"] < ledger["select"]["seconds"]
    assert (out / "cache" / "fits").is_dir()
    assert read_json(out / "metrics.json")["test"]["n"] == 15  # the reused model ships and is evaluated


def test_a_steps_own_saved_model_is_pointed_at_not_copied(tiny_model_dir, tmp_path) -> None:
    model, data, cache = str(tiny_model_dir("bert")), task_data(), cache_for(tmp_path)
    own = tmp_path / "step" / "model"
    finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "a", deadline=None, cache=cache,
             save_to=own)  # fmt: skip
    key = cache.key(model, PARAMS, 0, data)
    assert not (cache.root / key / "model").exists()  # no second copy of the weights
    assert cache.load(key).model_dir == own.resolve()
    again = finetune(model, data, PARAMS, device="cpu", seed=0, checkpoint_dir=tmp_path / "b", deadline=None,
                     cache=cache, save_to=tmp_path / "next")  # fmt: skip
    assert again.reused and (tmp_path / "next" / "model.safetensors").is_file()
    predicted = load_predictor(tmp_path / "next").predict_probs(data.valid.texts, None)
    np.testing.assert_allclose(predicted, again.valid_probs, atol=1e-5)
