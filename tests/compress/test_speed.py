"""compress's timing: models timed in turn over several rounds, each keeping its best round."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ratchet.compress import speed


def test_models_are_timed_in_turn_and_a_slow_stretch_of_the_machine_does_not_decide(monkeypatch, tmp_path) -> None:
    clock, order = [0.0], []
    busy_calls = 1 + 4 + 1  # the reference's whole first round (warm-up, 4 single texts, one batch) is slowed 3x

    class Timed:
        def __init__(self, name: str, seconds_per_text: float) -> None:
            self.name, self.seconds_per_text = name, seconds_per_text

        def predict_probs(self, texts: list[str], pairs: list[str] | None) -> None:
            order.append(self.name)
            clock[0] += len(texts) * self.seconds_per_text * (3 if len(order) <= busy_calls else 1)

    folders = {}
    for name in ("reference", "student"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        (folders[name] / "weights.bin").write_bytes(b"x" * (2_000_000 if name == "reference" else 1_000_000))
    cost = {"reference": 0.002, "student": 0.001}
    monkeypatch.setattr("ratchet.predictor.load_predictor", lambda path, device: Timed(path.name, cost[path.name]))
    monkeypatch.setattr(speed, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    speeds = speed.measure_alike(folders, ["a text"] * 64, None, singles=4, rounds=3)

    runs = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert runs == ["reference", "student"] * 3  # in turn, round after round
    assert speeds["reference"].texts_per_s == pytest.approx(64 / (64 * 0.002))  # its best round, not the slowed one
    assert speeds["student"].texts_per_s == pytest.approx(64 / (64 * 0.001))
    assert speeds["reference"].p50_ms == pytest.approx(2.0) and speeds["student"].p95_ms == pytest.approx(1.0)
    assert speed.speedup(speeds["reference"], speeds["student"], "batch") == pytest.approx(2.0)
    assert speeds["reference"].size_mb == pytest.approx(2.0) and speeds["student"].size_mb == pytest.approx(1.0)
    assert order.count("reference") == 1 + 3 * (4 + 1)  # one warm-up, then 4 singles and one batch per round
