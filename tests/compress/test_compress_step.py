"""compress in a real pipeline: candidates judged on the judged rows, speed measured, the rule's verdict obeyed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN, write_train_test

import ratchet
from ratchet.cli import main
from ratchet.compress.params import CompressParams
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json

STEPS = "clean,split,train,compress,evaluate"


def entry(run: Path, step: str) -> dict:
    return next(e for e in read_json(run / "ledger.json") if e["step"] == step)


def run_compress(tmp_path: Path, model: Path, *overrides: str, folds: str = "holdout", steps: str = STEPS,
                 resume: bool = False) -> Path:  # fmt: skip
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    if not data.exists():
        write_train_test(tmp_path, 90, 30, seed=1)
    run = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(run), "--model", str(model), "--steps", steps]
    args += ["--quiet", *[o for o in FAST_TRAIN if not o.startswith("gate.folds")], f"gate.folds={folds}"]
    args += ["train.epochs=12", "train.patience=12"]  # what the tiny teacher needs to learn the cues
    assert main([*args, *(["--resume"] if resume else []), *overrides]) == 0
    return run


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory) -> Path:
    """A folder with the data and a holdout run that trained the teacher: each test resumes a copy of it."""
    root = tmp_path_factory.mktemp("compress-teacher")
    run_compress(root, tiny_model_dir("bert"), steps="clean,split,train")
    return root


def with_teacher(trained: Path, tmp_path: Path, tiny_model_dir, *overrides: str) -> Path:
    """compress (then evaluate) on a copy of the trained run: the train step is reused, not run again."""
    import shutil

    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    run = run_compress(tmp_path, tiny_model_dir("bert"), *overrides, resume=True)
    # train's parameters changed (it keeps fold models when compress follows), its fit did not: read back.
    assert entry(run, "train")["crossfit"]["reused_folds"] == 1
    return run


def test_a_student_that_loses_accuracy_is_rejected(tiny_model_dir, tmp_path: Path, monkeypatch) -> None:
    import ratchet.compress.student as student

    # A student taught the teacher's labels shifted by one class: it must lose accuracy, and the rule must see it.
    # Cross-fitted, so the student's final weights are judged (holdout early stopping would pick its first
    # epoch, still close to the teacher it was cut from).
    honest = student.soft_labels
    monkeypatch.setattr(student, "soft_labels", lambda probs, t: np.roll(honest(probs, t), 1, axis=1))
    run = run_compress(
        tmp_path, tiny_model_dir("bert"), "compress.candidates=[student]", "compress.student_layers=0.5",
        "compress.min_speedup=0", "compress.epochs=6", folds="2",
    )  # fmt: skip
    train, compress = entry(run, "train"), entry(run, "compress")
    assert train["status"] == "kept"
    report = compress["compress"]
    assert report["chosen"] == "student" and report["student"]["layers"] < report["student"]["teacher_layers"]
    # The student scored below the teacher by more than the margin: non-inferiority fails, nothing changes.
    assert compress["candidate"] < compress["reference"] - 0.005
    assert compress["status"] == "rejected" and compress["margin"] == 0.005
    assert compress["p_within"] < 0.8
    assert read_json(run / "model" / "ratchet.json")["kind"] == "transformer"
    for key in ("size_mb", "p50_ms", "p95_ms", "texts_per_s"):
        assert report["reference"][key] > 0 and report["student"]["speed"][key] > 0


def test_int8_is_kept_when_as_good_and_fast_enough_and_ships(trained, tiny_model_dir, tmp_path: Path) -> None:
    # No speed requirement: on a tiny model int8 is not faster, so only accuracy can decide here.
    run = with_teacher(trained, tmp_path, tiny_model_dir, "compress.candidates=[int8]", "compress.min_speedup=0",
                       "compress.max_drop=0.2")  # fmt: skip
    compress = entry(run, "compress")
    assert compress["compress"]["chosen"] == "int8"
    assert compress["status"] == "kept", compress["reason"]
    assert read_json(run / "model" / "ratchet.json")["kind"] == "int8"
    metrics = read_json(run / "metrics.json")
    assert metrics["test"]["macro_f1"] > 0.5  # the sealed test was scored through the int8 model
    probs = ratchet.load(run).predict_proba(["great product works well", "terrible waste broke"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_unmet_speed_rejects_whatever_the_accuracy(trained, tiny_model_dir, tmp_path: Path) -> None:
    run = with_teacher(trained, tmp_path, tiny_model_dir, "compress.candidates=[int8]", "compress.min_speedup=50",
                       "compress.max_drop=0.5")  # fmt: skip
    compress = entry(run, "compress")
    assert compress["status"] == "rejected"
    assert "compress.min_speedup is 50" in compress["reason"]
    assert read_json(run / "model" / "ratchet.json")["kind"] == "transformer"


def test_cross_fitted_compress_judges_through_the_fold_models(tiny_model_dir, tmp_path: Path) -> None:
    # train keeps its fold models, the seed ensemble builds fold ensembles from them, and compress judges an
    # int8 version of each fold ensemble on its held-out fold. (A permissive gate: this checks the plumbing.)
    run = run_compress(
        tmp_path, tiny_model_dir("bert"), "compress.candidates=[int8]", "compress.min_speedup=0", "search.seeds=2",
        "gate.min_gain=-1", "gate.confidence=0", folds="2", steps="clean,split,train,ensemble,compress,evaluate",
    )  # fmt: skip
    assert entry(run, "ensemble")["status"] == "kept"
    compress = entry(run, "compress")
    assert compress["folds"] == 2 and compress["rows"] > 60  # every out-of-fold row of the pool, not a slice
    assert read_json(run / "steps" / "03-train" / "folds" / "folds.json")["folds"] == [0, 1]
    folds = read_json(run / "steps" / "04-ensemble" / "folds" / "folds.json")
    assert folds == {"model": "../ensemble", "folds": [0, 1]}  # relative: a copied run keeps the link
    assert compress["compress"]["int8"]["crossfit"]["folds_run"] == 2
    # Judged like for like: the int8 fold ensembles agree with the fold ensembles on most out-of-fold rows.
    reference = np.load(run / "steps" / "04-ensemble" / "valid_probs.npy")
    candidate = np.load(run / "steps" / "05-compress" / "valid_probs.npy")
    assert (reference.argmax(1) == candidate.argmax(1)).mean() >= 0.9
    assert compress["status"] == "kept", compress["reason"]
    shipped = read_json(run / "model" / "ratchet.json")
    assert shipped["kind"] == "ensemble"
    members = sorted((run / "model" / "members").iterdir())
    assert [read_json(m / "ratchet.json")["kind"] for m in members] == ["int8", "int8"]
    # The report's compression table: the shipped model and the candidate, timed on the same texts.
    from ratchet.reporting.report import build_report

    html = build_report(run).read_text(encoding="utf-8")
    table = html[html.index('id="compress-models"') :]
    assert "shipped model (reference)" in table and "<td>int8</td>" in table
    assert f"{compress['compress']['int8']['speedup']:.2f}x" in table


def test_compress_skips_a_shipped_baseline(tmp_path: Path) -> None:
    data, test = write_train_test(tmp_path, 60, 20, seed=1)
    run = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(run), "--model", "linear", "--quiet"]
    assert main([*args, "--steps", "clean,split,baseline,train,compress,evaluate", "gate.folds=holdout"]) == 0
    compress = entry(run, "compress")
    assert compress["status"] == "skipped" and "linear model" in compress["note"]


def test_compress_params_out_of_range_are_refused() -> None:
    with pytest.raises(RatchetError, match=r"compress\.candidates"):
        CompressParams(candidates=("pruning",))
    with pytest.raises(RatchetError, match=r"compress\.min_speedup"):
        CompressParams(min_speedup=-1.0)
    with pytest.raises(RatchetError, match="speed_at"):
        CompressParams(speed_at="fast")


def test_a_kept_cross_fitted_student_is_refit_on_every_pool_row(tiny_model_dir, tmp_path: Path) -> None:
    # A generous margin: the student is kept, and the one that ships is distilled from the shipped model on
    # every train+valid row (the fold students only judged it).
    run = run_compress(
        tmp_path, tiny_model_dir("bert"), "compress.candidates=[student]", "compress.min_speedup=0",
        "compress.max_drop=0.5", "compress.epochs=2", folds="2",
    )  # fmt: skip
    compress = entry(run, "compress")
    assert compress["status"] == "kept", compress["reason"]
    shipped = read_json(run / "model" / "ratchet.json")
    pool = len(pd.read_parquet(run / "data" / "train.parquet")) + len(pd.read_parquet(run / "data" / "valid.parquet"))
    assert shipped["kind"] == "transformer" and shipped["student"]["rows"] == pool
    assert shipped["student"]["layers"] == compress["compress"]["student"]["layers"] == 1
    assert compress["compress"]["student"]["refit_steps"] > 0
    probs = ratchet.load(run).predict_proba(["great product works well"])
    assert probs.shape == (1, 3)


def test_the_presets_compress_distils_no_student_on_small_data_a_named_one_does(
    tiny_model_dir, tmp_path: Path, monkeypatch
) -> None:
    from ratchet import step_builders
    from ratchet.config import RunConfig
    from ratchet.step_builders import build_steps

    def compress_of(**settings) -> object:
        config = RunConfig(data="d.csv", out=str(tmp_path / "cfg"), models=("m",), **settings)
        return next(step for step in build_steps(config) if step.name == "compress")

    assert compress_of(preset="balanced").params.small_data_student is False
    assert compress_of(preset="best").params.small_data_student is False
    named = ("clean", "split", "train", "compress", "evaluate")
    assert compress_of(preset="balanced", steps=named).params.small_data_student is True

    # The preset's compress in a cross-fitted run: the int8 candidate is judged, no fold student is distilled.
    preset_compress = step_builders.STEP_BUILDERS["compress"]

    def as_in_balanced(config):
        step = preset_compress(config)
        step.params = dataclasses.replace(step.params, small_data_student=False)
        return step

    monkeypatch.setitem(step_builders.STEP_BUILDERS, "compress", as_in_balanced)
    run = run_compress(tmp_path, tiny_model_dir("bert"), "compress.min_speedup=0", folds="2")
    compress = entry(run, "compress")
    assert compress["compress"]["student"] == {"skipped": compress["compress"]["student"]["skipped"]}
    assert compress["compress"]["student"]["skipped"].startswith("judging is cross-fitted (few labeled rows)")
    assert compress["compress"]["chosen"] == "int8" and compress["compress"]["int8"]["crossfit"]["folds_run"] == 2
    assert not (run / "steps" / "04-compress" / "student").exists()


def test_the_student_also_learns_the_teachers_labels_on_unlabeled_texts_never_on_test_ones(
    trained, tiny_model_dir, tmp_path: Path
) -> None:
    test_texts = pd.read_csv(trained / "test.csv")["review"].tolist()
    fresh = [f"an unlabeled review number {i} of the product" for i in range(7)]
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("\n".join([*test_texts[:3], *fresh]) + "\n", encoding="utf-8")
    run = with_teacher(trained, tmp_path, tiny_model_dir, "--unlabeled", str(unlabeled),
                       "compress.candidates=[student]", "compress.min_speedup=0", "compress.epochs=1")  # fmt: skip
    corpus = entry(run, "compress")["compress"]["student"]["unlabeled"]
    # The sealed test texts never reach the student; the fresh ones all do (under compress.max_unlabeled).
    assert corpus["rows"] == len(fresh) and corpus["removed_test"] == 3
