"""ratchet serve, started for real in a subprocess and called over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ratchet.cli import main


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, path: str, body: object | bytes | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start(source: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "ratchet.cli", "serve", str(source), "--port", str(port), *extra],
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.stderr.read()}")
        try:
            if call(port, "/health")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("the server did not answer /health within 120 s")


@pytest.fixture(scope="module")
def served(sbert_run) -> Iterator[tuple[int, Path, Path, subprocess.Popen]]:
    run, test = sbert_run
    process, port = start(run, "--max-texts", "50", "--max-chars", "300")
    yield port, run, test, process
    process.terminate()
    process.wait(timeout=30)


def expected_predictions(run: Path, test: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(test), "--out", str(out), "--quiet"]) == 0
    return pd.read_csv(out)


def test_predict_answers_what_ratchet_predict_writes(served, tmp_path) -> None:
    port, run, test, _ = served
    texts = pd.read_csv(test)["review"].tolist()
    expected = expected_predictions(run, test, tmp_path)
    status, answer = call(port, "/predict", {"texts": texts})
    assert status == 200, answer
    labels = [p["label"] for p in answer["predictions"]]
    assert labels == expected["predicted_label"].tolist()
    names = list(answer["predictions"][0]["probabilities"])
    got = np.array([[p["probabilities"][n] for n in names] for p in answer["predictions"]])
    np.testing.assert_allclose(got, expected[[f"prob_{n}" for n in names]].to_numpy(), atol=1e-5)


def test_health_and_metadata_describe_the_model(served) -> None:
    port, run, _, _ = served
    status, health = call(port, "/health")
    assert status == 200 and health["status"] == "ok" and health["backend"] == "pytorch"
    status, meta = call(port, "/metadata")
    assert status == 200 and meta["labels"] == ["negative", "neutral", "positive"]
    assert meta["model_hash"] == health["model_hash"] and len(meta["model_hash"]) == 16
    assert meta["parallel_calls"] == 1  # PyTorch: one call at a time, on every thread
    truth = json.loads((run / "metrics.json").read_text())["test"]["macro_f1"]
    assert meta["test_metrics"]["macro_f1"] == pytest.approx(truth)
    assert [e["step"] for e in meta["ledger"]] == ["clean", "split", "train", "evaluate"]
    status, docs = call(port, "/openapi.json")
    assert status == 200 and "/predict" in docs["paths"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"texts": []}, 422, "texts: List should have at least 1 item"),
        ({"texts": ["fine", 5]}, 422, "texts.1: Input should be a valid string"),
        ({"text": ["fine"]}, 422, "texts: Field required"),
        (b"{not json", 422, "invalid request"),
        ({"texts": ["a"] * 51}, 413, "51 texts in one request; the limit is 50"),
        ({"texts": ["a" * 301]}, 422, "a text of 301 characters; the limit is 300"),
        ({"texts": ["a"], "pairs": ["b"]}, 422, "this model does not read text pairs"),
    ],
    ids=["empty", "non-string", "wrong-field", "bad-json", "too-many", "too-long", "pairs"],
)
def test_bad_requests_get_a_4xx_with_a_message_and_no_traceback(served, body, status, says) -> None:
    port, *_ = served
    code, answer = call(port, "/predict", body)
    assert code == status and says in answer["detail"] and "Traceback" not in json.dumps(answer)


def test_fifty_concurrent_requests_are_all_answered_and_batched(served) -> None:
    port, _, test, _ = served
    texts = pd.read_csv(test)["review"].tolist()
    alone = [call(port, "/predict", {"texts": [t]})[1]["predictions"][0] for t in texts[:10]]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: call(port, "/predict", {"texts": [texts[i % 10]]}), range(50)))
    assert all(code == 200 for code, _ in answers)
    for i, (_, answer) in enumerate(answers):  # batched with others, each text gets its own answer
        got = answer["predictions"][0]
        assert got["label"] == alone[i % 10]["label"]
        for name, p in got["probabilities"].items():
            assert p == pytest.approx(alone[i % 10]["probabilities"][name], abs=1e-5)


def test_an_export_folder_is_served_with_onnxruntime(sbert_run, tmp_path) -> None:
    run, test = sbert_run
    assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 0
    process, port = start(tmp_path / "export", "--parallel", "2")  # one-thread calls, two at once
    try:
        texts = pd.read_csv(test)["review"].tolist()
        expected = expected_predictions(run, test, tmp_path)
        status, answer = call(port, "/predict", {"texts": texts})
        assert status == 200 and call(port, "/health")[1]["backend"] == "onnxruntime"
        assert [p["label"] for p in answer["predictions"]] == expected["predicted_label"].tolist()
        meta = call(port, "/metadata")[1]
        assert meta["ledger"][-1]["step"] == "evaluate"  # the run's facts, found from the export
        assert meta["parallel_calls"] == 2
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    # One line per request, with its latency.
    assert any(line.startswith("POST /predict 200 ") and line.endswith(" ms") for line in errors.splitlines())


def test_a_port_in_use_or_a_missing_run_is_one_line_and_exit_2(sbert_run, tmp_path, capsys) -> None:
    run, _ = sbert_run
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(run), "--port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "nowhere"), "--port", str(free_port())]) == 2
    assert "run folder not found" in capsys.readouterr().err
