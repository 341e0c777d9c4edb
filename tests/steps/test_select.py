"""select: successive halving (pure), and the step picking the better backbone or the baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN, synthetic_rows

from ratchet.cli import main
from ratchet.fsutil import read_json
from ratchet.search.halving import rung_epochs, successive_halving


def fake_scores(scores: dict[str, float], calls: list[tuple[str, float]]):
    """A trainer whose score grows with epochs but keeps each candidate's ranking."""

    def evaluate(name: str, epochs: float, share: float) -> float:
        assert 0 < share <= 1
        calls.append((name, epochs))
        return scores[name] * min(1.0, 0.5 + epochs / 8)

    return evaluate


def test_halving_trains_survivors_longer_and_picks_the_best() -> None:
    calls: list[tuple[str, float]] = []
    scores = {"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.6}
    winner, rungs = successive_halving(list(scores), {}, fake_scores(scores, calls), eta=2, top_epochs=4)
    assert winner == "b"
    assert rung_epochs(4, 2, 4.0) == [2.0, 4.0]
    assert [rung.epochs for rung in rungs] == [2.0, 4.0]
    assert rungs[0].kept == ["b", "c"]
    # Four short fine-tunes, then two full ones for the survivors only.
    assert calls == [("a", 2.0), ("b", 2.0), ("c", 2.0), ("d", 2.0), ("b", 4.0), ("c", 4.0)]


def test_one_transformer_meets_the_baseline_after_full_training() -> None:
    calls: list[tuple[str, float]] = []
    winner, rungs = successive_halving(["t"], {"linear": 0.8}, fake_scores({"t": 0.85}, calls), top_epochs=4)
    # Half-trained, t would score 0.85 * 1.0 at 4 epochs but only 0.6375 at 1: the race is at full epochs.
    assert calls == [("t", 4.0)]
    assert winner == "t"
    assert rungs[0].scores == {"linear": 0.8, "t": pytest.approx(0.85)}

    winner, _ = successive_halving(["t"], {"linear": 0.9}, fake_scores({"t": 0.85}, []), top_epochs=4)
    assert winner == "linear"


def test_ties_go_to_the_baseline_and_a_lone_candidate_is_not_trained() -> None:
    winner, _ = successive_halving(["t"], {"linear": 0.8}, lambda name, epochs, share: 0.8)
    assert winner == "linear"
    calls: list[tuple[str, float]] = []
    winner, rungs = successive_halving(["only"], {}, fake_scores({"only": 1.0}, calls))
    assert (winner, rungs, calls) == ("only", [], [])


def test_out_of_time_ranks_by_the_scores_so_far() -> None:
    seen: list[str] = []

    def evaluate(name: str, epochs: float, share: float) -> float | None:
        seen.append(name)
        return {"a": 0.4, "b": 0.6}.get(name) if len(seen) <= 2 else None

    winner, rungs = successive_halving(["a", "b", "c"], {"linear": 0.5}, evaluate, top_epochs=4)
    assert winner == "b"
    assert rungs[-1].not_run == ["c"]


def write_data(tmp_path: Path, n: int = 150) -> tuple[Path, Path]:
    data, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(n, seed=11)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(30, seed=12)).to_csv(test, index=False)
    return data, test


@pytest.fixture(scope="module")
def blind_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT whose tokenizer knows only digits: every word is [UNK], so it cannot learn."""
    from ratchet.models.tiny import build_tiny_model

    return build_tiny_model("bert", ["0 1 2 3 4 5 6 7 8 9"] * 20, tmp_path_factory.mktemp("blind"), seed=0)


def test_select_picks_the_transformer_that_learns_and_flags_poor_coverage(
    tiny_model_dir, blind_model_dir, tmp_path
) -> None:
    data, test = write_data(tmp_path)
    good, blind = str(tiny_model_dir("bert")), str(blind_model_dir)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--steps", "clean,split,select", "--quiet"]
    args += ["--model", blind, "--model", good, *FAST_TRAIN, "train.epochs=10", "train.patience=10"]
    assert main([*args, "select.include_default=false", "select.include_linear=false"]) == 0
    manifest = read_json(out / "steps" / "03-select" / "manifest.json")
    metrics = manifest["metrics"]
    assert read_json(out / "steps" / "03-select" / "backbone.json") == {"model": good}
    assert metrics["winner"] == good
    assert metrics["poor_coverage"] == [blind]
    coverage = {c["name"]: c["coverage"] for c in metrics["candidates"]}
    assert coverage[blind]["unk_share_words"] > 0.5
    assert coverage[good]["unk_share_words"] == 0.0
    scores = metrics["rungs"][-1]["scores"]
    assert scores[good] > scores[blind]
    assert metrics["rungs"][-1]["epochs"] == 10.0  # the deciding rung trains in full
    # The ledger shows the winner's validation score as select's result.
    ledger = read_json(out / "ledger.json")
    assert ledger[-1]["after"] == pytest.approx(scores[good])


def test_when_the_baseline_wins_search_challenges_it_and_the_baseline_ships(blind_model_dir, tmp_path) -> None:
    data, test = write_data(tmp_path, n=90)
    out = tmp_path / "run"
    steps = "clean,split,baseline,select,search,train,evaluate"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--steps", steps, "--quiet"]
    args += ["--model", str(blind_model_dir), *FAST_TRAIN, "train.epochs=1", "select.include_default=false"]
    assert main([*args, "search.n_trials=2"]) == 0
    blind = str(blind_model_dir)
    assert read_json(out / "steps" / "04-select" / "backbone.json") == {"model": "linear", "runner_up": blind}
    ledger = {entry["step"]: entry for entry in read_json(out / "ledger.json")}
    # search tuned the runner-up and the ratchet rule judged it against the baseline, not its own reference.
    search = read_json(out / "steps" / "05-search" / "manifest.json")["metrics"]
    assert search["challenger"] is True and search["backbone"] == blind
    assert ledger["search"]["before"] == pytest.approx(ledger["baseline"]["after"])
    assert ledger["search"]["status"] == "rejected"  # a model that reads only [UNK] cannot beat it
    assert read_json(out / "model" / "ratchet.json")["kind"] == "linear"
    assert read_json(out / "metrics.json")["test"]["macro_f1"] > 0.8
    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(out), str(test), "--out", str(predictions), "--quiet"]) == 0
    assert len(pd.read_csv(predictions)) == 30


def test_train_reads_back_the_winners_fold_models_that_select_kept(tiny_model_dir, blind_model_dir, tmp_path) -> None:
    """When train keeps its fold models (here to ship them; in balanced for compress), select keeps those of
    its full-length cross-fitted fit, and train reads every fold back from the fit cache, models included."""
    data, test = write_data(tmp_path, n=90)
    good, blind = str(tiny_model_dir("bert")), str(blind_model_dir)
    out = tmp_path / "run"
    args = ["run", str(data), "--test", str(test), "--out", str(out), "--quiet"]
    args += ["--steps", "clean,split,baseline,select,train", "--model", blind, "--model", good]
    args += [*[o for o in FAST_TRAIN if not o.startswith("gate.folds")], "gate.folds=3", "gate.ship=folds"]
    args += ["train.epochs=10", "train.patience=10"]  # what the good tiny model needs to learn the cues
    assert main([*args, "select.include_default=false", "select.include_linear=false"]) == 0
    assert read_json(out / "steps" / "04-select" / "backbone.json")["model"] == good
    kept = sorted((out / "steps" / "04-select" / "fits").glob("*-folds/fold-*/ratchet.json"))
    assert len(kept) == 3  # the winner's three fold models
    train = {entry["step"]: entry for entry in read_json(out / "ledger.json")}["train"]
    assert train["crossfit"]["folds_run"] == 3 and train["crossfit"]["reused_folds"] == 3
    assert sorted(p.parent.name for p in (out / "steps" / "05-train" / "folds").glob("fold-*/ratchet.json")) == [
        "fold-0", "fold-1", "fold-2",
    ]  # fmt: skip
