"""selftrain: which texts get pseudo-labels, and the step inside a real pipeline (seal, gate, shipped student)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import synthetic_rows

from ratchet.adaptation.pseudo_labels import choose_pseudo_labels
from ratchet.cli import main
from ratchet.config import AdaptParams, GateParams, RunConfig, SearchParams, SelfTrainParams, TrainParams
from ratchet.data.split import text_fingerprint
from ratchet.errors import RatchetError
from ratchet.fsutil import read_json
from ratchet.pipeline import Pipeline
from ratchet.step_builders import build_steps


def test_pseudo_labels_are_confident_capped_per_class_and_most_confident_first() -> None:
    probs = np.array([
        [0.95, 0.05], [0.99, 0.01], [0.91, 0.09], [0.97, 0.03],  # four confident class-0 texts
        [0.10, 0.90], [0.02, 0.98],  # two confident class-1 texts
        [0.60, 0.40], [0.45, 0.55],  # two unsure texts
    ])  # fmt: skip
    gold = np.array([0, 0, 0, 1, 1, 1])  # 3 gold rows of each class
    chosen = choose_pseudo_labels(probs, gold, threshold=0.9, max_ratio=1.0)
    # Class 0: four confident texts, room for three: the three most confident, best first.
    assert chosen.rows.tolist() == [1, 3, 0, 5, 4]
    assert chosen.label_ids.tolist() == [0, 0, 0, 1, 1]
    assert np.allclose(chosen.confidence, [0.99, 0.97, 0.95, 0.98, 0.90])
    stats = chosen.stats
    assert stats["labeled_by_teacher"] == 8 and stats["above_threshold"] == 6 and stats["chosen"] == 5
    assert stats["per_class"][0] == {"confident": 4, "cap": 3, "chosen": 3}
    assert stats["per_class"][1] == {"confident": 2, "cap": 3, "chosen": 2}


def test_pseudo_labels_follow_the_gold_class_balance() -> None:
    probs = np.tile([[0.02, 0.98]], (50, 1))  # a teacher that is sure everything is class 1
    chosen = choose_pseudo_labels(probs, np.array([0] * 10 + [1] * 2), threshold=0.5, max_ratio=4.0)
    assert len(chosen.rows) == 8  # class 1 has two gold rows: at most 4 x 2 pseudo-labels
    assert set(chosen.label_ids.tolist()) == {1}


def test_selftrain_params_out_of_range_are_refused() -> None:
    with pytest.raises(RatchetError, match="threshold"):
        SelfTrainParams(threshold=1.0)
    with pytest.raises(RatchetError, match="weight"):
        SelfTrainParams(weight=0.0)
    with pytest.raises(RatchetError, match=r"selftrain\.seeds"):
        SelfTrainParams(seeds=0)


def test_students_are_as_many_as_the_ensemble_seeds_unless_set(tmp_path: Path) -> None:
    def student_seeds(steps: tuple[str, ...] = ("selftrain",), **overrides) -> int:
        config = RunConfig(data="train.csv", out=str(tmp_path / "run"), steps=steps, **overrides)
        return build_steps(config)[-1].params.seeds

    with_ensemble = ("train", "ensemble", "selftrain")
    assert student_seeds() == 1  # no ensemble step: one student faces one teacher
    assert student_seeds(with_ensemble, preset="best") == 3
    assert student_seeds(with_ensemble, search=SearchParams(seeds=2)) == 2
    assert student_seeds(with_ensemble, search=SearchParams(seeds=3), selftrain=SelfTrainParams(seeds=1)) == 1
    assert student_seeds(selftrain=SelfTrainParams(seeds=2)) == 2


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_selftrain_in_a_pipeline(tiny_model_dir, tmp_path: Path) -> None:
    train_rows, test_rows = synthetic_rows(72, seed=1), synthetic_rows(30, seed=2)
    data, test = _write(tmp_path / "train.csv", train_rows), _write(tmp_path / "test.csv", test_rows)
    # The unlabeled file: fresh texts, plus every test text (one re-spaced) and every labeled training text,
    # validation rows included. None of those may get a pseudo-label.
    fresh = [r["review"] for r in synthetic_rows(90, seed=3)]
    unlabeled = tmp_path / "unlabeled.txt"
    sealed = [r["review"] for r in test_rows]
    sealed[0] = "  " + sealed[0].upper().replace(" ", "   ")
    unlabeled.write_text("\n".join(fresh + sealed + [r["review"] for r in train_rows]) + "\n", encoding="utf-8")
    config = RunConfig(
        data=str(data), test=str(test), out=str(tmp_path / "run"), models=(str(tiny_model_dir("bert")),),
        steps=("clean", "split", "train", "ensemble", "selftrain", "evaluate", "report"),
        train=TrainParams(min_steps=0, epochs=3, learning_rate=3e-3, max_length=32, max_tokens=512),
        adapt=AdaptParams(unlabeled=str(unlabeled)),
        selftrain=SelfTrainParams(threshold=0.0, max_ratio=2.0, epochs=2),
        search=SearchParams(seeds=2),  # the teacher is a seed ensemble, and so are the students
        # Keep any candidate, so the test can follow the student into the shipped model; the decision is
        # still judged and recorded.
        gate=GateParams(min_gain=-1.0, confidence=0.0, n_bootstrap=200, folds="holdout"),
    )  # fmt: skip
    result = Pipeline.from_config(config).run()
    run = result.run_dir

    entry = next(e for e in result.ledger if e["step"] == "selftrain")
    assert entry["status"] == "kept" and entry["gated"]
    for key in ("reference", "candidate", "gain", "ci", "p_better"):
        assert entry[key] is not None, key
    step_dir = run / "steps" / "05-selftrain"
    metrics = read_json(step_dir / "manifest.json")["metrics"]
    corpus = metrics["corpus"]
    assert corpus["removed_test"] == 30  # every test text, the re-spaced one included
    valid_texts = pd.read_parquet(run / "data" / "valid.parquet")["text"].tolist()
    assert corpus["removed_valid"] == len(valid_texts) > 0
    assert corpus["from_unlabeled"] == 90  # only the fresh texts remain to be labeled
    pseudo = pd.read_parquet(step_dir / "pseudo_labels.parquet")
    forbidden = {text_fingerprint(t) for t in sealed + valid_texts + [r["review"] for r in train_rows]}
    assert not forbidden & {text_fingerprint(t) for t in pseudo["text"]}
    gold = pd.read_parquet(run / "data" / "train.parquet")["label"].value_counts()
    # threshold 0: every fresh text is confident enough; max_ratio 2 caps each class at twice its gold rows.
    per_class = metrics["pseudo_labels"]["per_class"]
    assert sum(c["confident"] for c in per_class.values()) == 90
    for label, counts in per_class.items():
        assert counts["cap"] == 2 * gold[label]
        assert counts["chosen"] == min(counts["confident"], counts["cap"]) == (pseudo["label"] == label).sum()
    assert len(pseudo) == metrics["pseudo_labels"]["chosen"]
    n_gold = int(gold.sum())
    assert metrics["student"]["rows"] == n_gold + len(pseudo)
    assert set(pseudo["label"]) <= {"positive", "negative", "neutral"}
    for _, group in pseudo.groupby("label", sort=False):  # the most confident first within each class
        assert np.all(np.diff(group["confidence"].to_numpy()) <= 1e-6)
    assert metrics["student"]["train_params"]["epochs"] == 2
    assert read_json(Path(metrics["teacher"]) / "ratchet.json")["kind"] == "ensemble"  # train's two seeds
    assert metrics["shipped"] == "an ensemble of 2 students"
    # The students' ensemble ships and predict reads it.
    shipped = read_json(run / "model" / "ratchet.json")
    assert shipped["kind"] == "ensemble" and shipped["members"] == 2
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(test), "--out", str(out), "--quiet"]) == 0
    assert len(pd.read_csv(out)) == 30
    report = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="selftrain-examples"' in report and 'id="selftrain-classes"' in report


def test_selftrain_without_an_unlabeled_corpus_is_skipped(tiny_model_dir, sentiment_csv, sentiment_test_csv,
                                                          tmp_path: Path) -> None:  # fmt: skip
    config = RunConfig(
        data=str(sentiment_csv), test=str(sentiment_test_csv), out=str(tmp_path / "run"),
        models=(str(tiny_model_dir("bert")),), steps=("clean", "split", "train", "selftrain"),
        train=TrainParams(min_steps=0, epochs=1, learning_rate=3e-3, max_length=32, max_tokens=512),
    )  # fmt: skip
    entry = Pipeline.from_config(config).run().ledger[-1]
    assert entry["status"] == "skipped" and "--unlabeled" in entry["note"]


def test_cross_fitted_each_fold_trains_its_own_teacher_and_students_side_by_side(tiny_model_dir, tmp_path) -> None:
    """gate.folds=3: a teacher and a student per fold, judged on every pool row; folds 2 and 3 fit in forked
    workers, and the pseudo-label figures of fold 1 still reach the step's metrics."""
    data = _write(tmp_path / "train.csv", synthetic_rows(72, seed=1))
    test = _write(tmp_path / "test.csv", synthetic_rows(30, seed=2))
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("\n".join(r["review"] for r in synthetic_rows(60, seed=3)) + "\n", encoding="utf-8")
    config = RunConfig(
        data=str(data), test=str(test), out=str(tmp_path / "run"), models=(str(tiny_model_dir("bert")),),
        steps=("clean", "split", "baseline", "train", "selftrain", "evaluate"),
        train=TrainParams(min_steps=0, epochs=2, learning_rate=3e-3, max_length=32, max_tokens=512),
        adapt=AdaptParams(unlabeled=str(unlabeled)), selftrain=SelfTrainParams(threshold=0.0, epochs=1),
        gate=GateParams(min_gain=-1.0, confidence=0.0, n_bootstrap=200, folds=3, fold_workers=2),
    )  # fmt: skip
    result = Pipeline.from_config(config).run()
    metrics = read_json(result.run_dir / "steps" / "05-selftrain" / "manifest.json")["metrics"]
    assert metrics["crossfit"]["folds_run"] == 3 and metrics["crossfit"]["workers"] == "2 worker processes x 1 thread"
    assert len(metrics["fold_pseudo_labels"]) == 3 and all(n > 0 for n in metrics["fold_pseudo_labels"])
    assert metrics["pseudo_labels"]["chosen"] == metrics["fold_pseudo_labels"][0]  # fold 1's, as recorded
    teachers = sorted(p.name for p in (result.run_dir / "steps" / "05-selftrain" / "fold-teachers").iterdir())
    assert teachers == ["fold-0", "fold-1", "fold-2"]
    entry = next(e for e in result.ledger if e["step"] == "selftrain")
    pool = sum(len(pd.read_parquet(result.run_dir / "data" / f"{name}.parquet")) for name in ("train", "valid"))
    assert entry["rows"] == pool == 72 and entry["folds"] == 3  # every pool row judged
