"""--track mlflow / tensorboard: params and metrics of a run folder reach the tracker."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from fake_run_folder import make_fake_run

from ratchet.config import TrainParams
from ratchet.errors import RatchetError
from ratchet.reporting import tracking
from ratchet.reporting.rundata import load_run
from ratchet.reporting.tracking import check_trackers, collect, track_run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path / "run")


def test_collect_gathers_config_ledger_history_and_test_metrics(run: Path) -> None:
    tracked = collect(load_run(run))
    assert tracked.params["train.epochs"] == str(TrainParams().epochs) and tracked.params["seed"] == "0"
    assert tracked.params["06-train.learning_rate"] == "5e-05"
    series = {(name, step): value for name, value, step in tracked.series}
    ledger = json.loads((run / "ledger.json").read_text())
    for index, entry in enumerate(ledger):
        if entry["after"] is not None:
            assert series[("valid/macro_f1", index)] == entry["after"]
    assert series[("ledger/relabel/kept", 3)] == 0.0 and series[("ledger/search/kept", 4)] == 1.0
    assert series[("06-train/valid_macro_f1", 30)] == pytest.approx(0.64)
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert series[("test/macro_f1", len(ledger))] == test["macro_f1"]
    assert series[("test/macro_f1_ci_low", len(ledger))] == test["ci"]["macro_f1"][0]
    assert series[("test/f1/neutral", len(ledger))] == test["per_class"]["neutral"]["f1"]


def test_unknown_or_missing_trackers_fail_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RatchetError, match="unknown tracker 'wandb'"):
        check_trackers(["wandb"])
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RatchetError, match="pip install mlflow"):
        check_trackers(["mlflow"])


def test_the_recipe_checks_trackers_before_the_run_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ratchet.config import RunConfig
    from ratchet.step_builders import build_steps

    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    config = RunConfig(data="x.csv", out=str(tmp_path / "r"), steps=("report",), track=("tensorboard",))
    with pytest.raises(RatchetError, match="pip install tensorboard"):
        build_steps(config)


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (pip install mlflow)")
def test_mlflow_local_store_gets_params_metrics_and_the_report(run: Path) -> None:
    from mlflow.tracking import MlflowClient

    from ratchet.reporting.report import build_report

    build_report(run)
    done = track_run(run, ["mlflow"])
    assert (run / "mlflow.db").is_file()
    run_id = done["mlflow"].rsplit("run ", 1)[1].rstrip(")")
    client = MlflowClient(tracking_uri=f"sqlite:///{(run / 'mlflow.db').resolve()}")
    logged = client.get_run(run_id)
    assert logged.data.params["train.epochs"] == str(TrainParams().epochs)
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert logged.data.metrics["test/macro_f1"] == pytest.approx(test["macro_f1"])
    history = client.get_metric_history(run_id, "valid/macro_f1")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
        [0.6123, 0.6123, 0.7011, 0.7805, 0.7805]
    )
    assert logged.info.status == "FINISHED"
    artifacts = [a.path for a in client.list_artifacts(run_id)]
    assert "report.html" in artifacts
    assert (run / "mlartifacts").is_dir()  # the local store keeps artifacts inside the run folder


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (pip install mlflow)")
def test_mlflow_any_tracking_uri_when_given(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    # A file store (fast to create; MLflow 3 wants this opt-in) stands in for a team's server URI.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "team-store").as_uri()
    done = track_run(run, ["mlflow"], tracking_uri=uri)
    assert done["mlflow"].startswith(uri) and not (run / "mlflow.db").exists()
    client = MlflowClient(tracking_uri=uri)
    (logged,) = client.search_runs([client.get_experiment_by_name("ratchet").experiment_id])
    assert logged.data.params["preset"] == "fast"
    assert logged.data.metrics["ledger/search/gain"] == pytest.approx(0.0888)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed (pip install tensorboard)"
)
def test_tensorboard_event_files_hold_the_scalars(run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    track_run(run, ["tensorboard"])
    track_run(run, ["tensorboard"])  # rebuilt whole: no duplicated points
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    accumulator = EventAccumulator(str(run / "tensorboard"))
    accumulator.Reload()
    scalars = accumulator.Tags()["scalars"]
    assert {"valid/macro_f1", "test/macro_f1", "06-train/train_loss", "ledger/search/gain"} <= set(scalars)
    steps = [(e.step, round(e.value, 4)) for e in accumulator.Scalars("valid/macro_f1")]
    assert steps == [(2, 0.6123), (3, 0.6123), (4, 0.7011), (5, 0.7805), (6, 0.7805)]
    assert "params" in "".join(accumulator.Tags()["tensors"])
