"""The relabel step in a pipeline: the review file, the gate, policies, paths, label fixes, resume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from ratchet_testing import assert_rule_applied, synthetic_rows

from ratchet.config import RelabelParams, RunConfig, TrainParams, apply_overrides
from ratchet.fsutil import read_json, write_json
from ratchet.manifest import Manifest
from ratchet.pipeline import Pipeline
from ratchet.step import Completed, StepContext
from ratchet.step_builders import build_steps
from ratchet.steps.relabel import RelabelStep, RelabelStepParams

LABELS = ["negative", "neutral", "positive"]


def frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    out = pd.DataFrame({"text": [r["review"] for r in rows], "label": [r["sentiment"] for r in rows]})
    out["label_id"] = out["label"].map(LABELS.index).astype("int64")
    return out


def flip(df: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, set[str]]:
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(df), int(share * len(df)), replace=False)
    df = df.copy()
    ids = df["label_id"].to_numpy().copy()
    ids[rows] = (ids[rows] + rng.integers(1, 3, len(rows))) % 3
    df["label_id"] = ids
    df["label"] = [LABELS[k] for k in ids]
    return df, set(df["text"].iloc[rows])


@dataclass(frozen=True)
class DataParams:
    noise: float = 0.3


class MakeSplits:
    """Noisy training labels, a clean validation split: what the step must see through."""

    name: ClassVar[str] = "make_splits"
    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    gated: ClassVar[bool] = False
    flipped: ClassVar[set[str]] = set()

    def __init__(self, params: DataParams = DataParams()) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        train, MakeSplits.flipped = flip(frame(synthetic_rows(150, seed=1)), self.params.noise, seed=0)
        names = {"data.train": "train.parquet", "data.valid": "valid.parquet", "data.labels": "labels.json"}
        paths = {key: ctx.step_dir / name for key, name in names.items()}
        train.to_parquet(paths["data.train"])
        frame(synthetic_rows(90, seed=2)).to_parquet(paths["data.valid"])
        write_json(paths["data.labels"], {"labels": LABELS, "kind": "str"})
        return Completed(provides=paths)


def run_relabel(tmp_path: Path, relabel: RelabelParams, model: str = "default", noise: float = 0.3, **train):
    config = RunConfig(data="unused.csv", out=str(tmp_path / "run"))
    train_params = TrainParams(**{"min_steps": 0, **train})
    steps = [MakeSplits(DataParams(noise)), RelabelStep(RelabelStepParams(model, relabel, train_params))]
    result = Pipeline(config, steps, preflight=False).run()
    return result, tmp_path / "run"


def test_tfidf_fast_path_flags_flips_and_is_judged(tmp_path: Path) -> None:
    result, run = run_relabel(tmp_path, RelabelParams(features="tfidf"))
    entry = result.ledger[-1]
    assert entry["step"] == "relabel" and entry["gated"] and "ci" in entry and "p_better" in entry
    issues = pd.read_csv(run / "data" / "label_issues.csv", keep_default_na=False)
    assert list(issues.columns) == ["text", "given_label", "suggested_label", "confidence", "label_quality", "accept"]
    assert issues["label_quality"].is_monotonic_increasing
    hits = issues["text"].isin(MakeSplits.flipped)
    assert hits.mean() > 0.8 and hits.sum() > 0.6 * len(MakeSplits.flipped)  # precision and recall
    manifest = Manifest.load(run / "steps" / "02-relabel")
    assert manifest is not None and manifest.status == entry["status"] == "kept"
    metrics = manifest.data["metrics"]
    assert metrics["features"] == "tfidf" and metrics["mode"] == "fast" and metrics["flagged"] == len(issues)
    cleaned = pd.read_parquet(run / "steps" / "02-relabel" / "train.parquet")
    assert len(cleaned) == 150 - metrics["dropped"] and not set(cleaned["text"]) & set(issues["text"])
    assert entry["candidate"] > entry["reference"]


def test_clean_labels_give_nothing_to_do(tmp_path: Path) -> None:
    result, run = run_relabel(tmp_path, RelabelParams(features="tfidf"), noise=0.0)
    assert result.ledger[-1]["status"] in ("skipped", "rejected")  # never kept when it cannot help
    assert (run / "data" / "label_issues.csv").exists()


def test_embeddings_and_down_weighting_with_a_tiny_backbone(tmp_path: Path, tiny_model_dir) -> None:
    relabel = RelabelParams(features="embeddings", policy="weight", folds=3)
    result, run = run_relabel(tmp_path, relabel, model=str(tiny_model_dir("bert")), max_length=32)
    metrics = Manifest.load(run / "steps" / "02-relabel").data["metrics"]
    assert metrics["features"] == "tfidf+embeddings" and metrics["gate_learner"].endswith("embeddings")
    assert_rule_applied(result.ledger[-1])
    cleaned = pd.read_parquet(run / "steps" / "02-relabel" / "train.parquet")
    assert len(cleaned) == 150 and cleaned["weight"].dtype == np.float32
    assert (cleaned["weight"] < 1).sum() == metrics["down_weighted"] == metrics["flagged"] > 0


def test_thorough_path_fine_tunes_the_folds(tmp_path: Path, tiny_model_dir) -> None:
    relabel = RelabelParams(mode="thorough", features="tfidf", folds=2, policy="relabel")
    fast = {"epochs": 1.0, "learning_rate": 0.003, "max_length": 32, "max_tokens": 512}
    _, run = run_relabel(tmp_path, relabel, model=str(tiny_model_dir("bert")), **fast)
    metrics = Manifest.load(run / "steps" / "02-relabel").data["metrics"]
    assert metrics["mode"] == "thorough" and len(metrics["oof"]["fold_valid_macro_f1"]) == 2
    cleaned = pd.read_parquet(run / "steps" / "02-relabel" / "train.parquet")
    assert len(cleaned) == 150 and metrics["relabeled"] <= metrics["flagged"]


# --- in the real recipe: label fixes and resume ------------------------------------------------


def test_label_fixes_reach_training_rows_only_and_resume(tmp_path: Path) -> None:
    rows = synthetic_rows(120, seed=4)
    data = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    base = RunConfig(data=str(data), out=str(tmp_path / "run"), steps=("clean", "split", "relabel"))
    config = apply_overrides(base, ["relabel.features=tfidf"])
    Pipeline(config, build_steps(config), preflight=False).run()
    run = tmp_path / "run"
    train = pd.read_parquet(run / "data" / "train.parquet")
    valid = pd.read_parquet(run / "data" / "valid.parquet")
    # A reviewer relabels one training row, drops another, and tries to relabel a validation row.
    fixes = pd.DataFrame(
        {
            "text": [train["text"][0], train["text"][1], valid["text"][0]],
            "given_label": [train["label"][0], train["label"][1], valid["label"][0]],
            "suggested_label": ["neutral" if train["label"][0] != "neutral" else "positive", "", "negative"],
            "accept": ["yes", "drop", "yes"],
        }
    )
    fixes_path = tmp_path / "reviewed.csv"
    fixes.to_csv(fixes_path, index=False)
    fixed_config = apply_overrides(config, [f"relabel.label_fixes={fixes_path}", "overwrite=true"])
    Pipeline(fixed_config, build_steps(fixed_config), preflight=False).run()
    split = Manifest.load(run / "steps" / "02-split").data
    assert split["metrics"]["label_fixes"] == {"relabeled": 1, "dropped": 1, "confirmed": 0, "stale": 0,
                                               "not_in_train": 1}  # fmt: skip
    assert split["params"]["label_fixes"] == str(fixes_path.resolve()) and split["params"]["label_fixes_sha256"]
    new_train = pd.read_parquet(run / "data" / "train.parquet")
    assert new_train.loc[new_train["text"] == train["text"][0], "label"].item() == fixes["suggested_label"][0]
    assert train["text"][1] not in set(new_train["text"])
    assert pd.read_parquet(run / "data" / "valid.parquet").equals(valid)  # validation labels never change
    assert read_json(run / "data" / "data_report.json")["label_fixes"]["relabeled"] == 1

    resumed = apply_overrides(fixed_config, ["resume=true", "overwrite=false"])
    before = (run / "data" / "label_issues.csv").read_bytes()
    result = Pipeline(resumed, build_steps(resumed), preflight=False).run()
    assert [e["step"] for e in result.ledger] == ["clean", "split", "relabel"]
    assert (run / "data" / "label_issues.csv").read_bytes() == before
    assert Manifest.load(run / "steps" / "03-relabel").data["params"]["label_fixes_sha256"]


def test_missing_label_fixes_file_fails_before_the_run(tmp_path: Path) -> None:
    from ratchet.errors import RatchetError

    config = RunConfig(data="d.csv", out=str(tmp_path / "run"), relabel=RelabelParams(label_fixes="nope.csv"))
    with pytest.raises(RatchetError, match=r"label fixes file nope\.csv does not exist"):
        build_steps(config)


def test_reviewed_rows_are_never_flagged(tmp_path: Path) -> None:
    _, run = run_relabel(tmp_path, RelabelParams(features="tfidf"))
    issues = pd.read_csv(run / "data" / "label_issues.csv", keep_default_na=False)
    reviewed = issues.head(3).assign(accept="no")
    path = tmp_path / "reviewed.csv"
    reviewed.to_csv(path, index=False)
    again = tmp_path / "again"
    again.mkdir()
    _, run2 = run_relabel(again, RelabelParams(features="tfidf", label_fixes=str(path)))
    issues2 = pd.read_csv(run2 / "data" / "label_issues.csv", keep_default_na=False)
    assert not set(reviewed["text"]) & set(issues2["text"])
    assert len(issues2) == len(issues) - 3


class DrugReviewSplits:
    """The drug reviews: 450 training rows with 30% of labels flipped, 150 clean validation rows."""

    name: ClassVar[str] = "drug_splits"
    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ("data.train", "data.valid", "data.labels")
    gated: ClassVar[bool] = False
    flipped: ClassVar[set[str]] = set()

    def __init__(self, params: DataParams = DataParams()) -> None:
        self.params = params

    def run(self, ctx: StepContext) -> Completed:
        from ratchet.data.clean import normalize_text

        raw = pd.read_csv(Path(__file__).resolve().parents[2] / "examples" / "drug_reviews" / "train.tsv", sep="\t")
        pairs = zip(raw["review"], raw["rating"], strict=True)
        rows = [{"review": normalize_text(t), "sentiment": r} for t, r in pairs]
        train, DrugReviewSplits.flipped = flip(frame(rows[:450]), self.params.noise, seed=0)
        names = {"data.train": "train.parquet", "data.valid": "valid.parquet", "data.labels": "labels.json"}
        paths = {key: ctx.step_dir / name for key, name in names.items()}
        train.to_parquet(paths["data.train"])
        frame(rows[450:]).to_parquet(paths["data.valid"])
        write_json(paths["data.labels"], {"labels": LABELS, "kind": "str"})
        return Completed(provides=paths)


@pytest.mark.slow
def test_default_model_embeddings_find_flipped_drug_reviews(tmp_path: Path) -> None:
    config = RunConfig(data="unused.csv", out=str(tmp_path / "run"))
    steps = [DrugReviewSplits(), RelabelStep(RelabelStepParams("default", RelabelParams(), TrainParams()))]
    result = Pipeline(config, steps, preflight=False).run()
    issues = pd.read_csv(tmp_path / "run" / "data" / "label_issues.csv", keep_default_na=False)
    hits = issues["text"].isin(DrugReviewSplits.flipped)
    assert hits.mean() > 0.4 and hits.sum() > 0.5 * len(DrugReviewSplits.flipped)  # chance precision: 0.3
    metrics = Manifest.load(tmp_path / "run" / "steps" / "02-relabel").data["metrics"]
    assert metrics["features"] == "tfidf+embeddings"
    assert_rule_applied(result.ledger[-1])
