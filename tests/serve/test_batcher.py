"""The server's dynamic batcher, without HTTP: joins, parallel calls, splits and errors."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from ratchet.serve.batcher import MIN_SHARE, Batcher


class Recorder:
    """A model whose answer encodes each text (its number), and which notes every call."""

    def __init__(self, seconds: float = 0.0, fail: bool = False) -> None:
        self.seconds, self.fail = seconds, fail
        self.calls: list[list[str]] = []
        self.active = self.most_active = 0
        self.lock = threading.Lock()

    def __call__(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        with self.lock:
            self.calls.append(texts)
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1
        if self.fail:
            raise ValueError("the model broke")
        return np.array([[float(t), -float(t)] for t in texts])


async def submit_all(batcher: Batcher, jobs: list[list[str]]) -> list:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(texts, None) for texts in jobs), return_exceptions=True)
    finally:
        await batcher.stop()


def test_one_slot_joins_requests_that_arrive_together() -> None:
    model = Recorder()
    answers = asyncio.run(submit_all(Batcher(model, wait_s=0.05, parallel=1), [["1"], ["2"], ["3"]]))
    assert model.calls == [["1", "2", "3"]]
    assert [a[:, 0].tolist() for a in answers] == [[1.0], [2.0], [3.0]]


def test_two_slots_run_two_calls_at_once() -> None:
    model = Recorder(seconds=0.2)

    async def staggered() -> list:
        batcher = Batcher(model, parallel=2)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(["1"], None))
            await asyncio.sleep(0.05)  # the first call is running; the second must not wait for it
            second = asyncio.ensure_future(batcher.submit(["2"], None))
            return await asyncio.gather(first, second)
        finally:
            await batcher.stop()

    began = time.perf_counter()
    answers = asyncio.run(staggered())
    assert model.most_active == 2 and len(model.calls) == 2
    assert time.perf_counter() - began < 0.38  # two 0.2 s calls overlapped, not one after the other
    assert [a[0, 0] for a in answers] == [1.0, 2.0]


def test_a_large_call_is_split_across_free_slots_and_answers_in_order() -> None:
    model = Recorder(seconds=0.05)
    texts = [str(i) for i in range(4 * MIN_SHARE)]
    answers = asyncio.run(submit_all(Batcher(model, parallel=4), [texts]))
    assert sorted(len(call) for call in model.calls) == [MIN_SHARE] * 4 and model.most_active == 4
    np.testing.assert_array_equal(answers[0][:, 0], np.arange(4 * MIN_SHARE, dtype=float))


def test_a_small_call_is_not_split() -> None:
    model = Recorder()
    asyncio.run(submit_all(Batcher(model, parallel=4), [[str(i) for i in range(2 * MIN_SHARE - 1)]]))
    assert len(model.calls) == 1


def test_a_failing_call_answers_every_request_with_its_error_and_the_batcher_goes_on() -> None:
    model = Recorder(fail=True)

    async def fail_then_answer() -> tuple[list, np.ndarray]:
        batcher = Batcher(model, wait_s=0.05, parallel=2)
        batcher.start()
        try:
            failed = await asyncio.gather(*(batcher.submit([str(i)], None) for i in range(3)), return_exceptions=True)
            model.fail = False
            return failed, await batcher.submit(["7"], None)
        finally:
            await batcher.stop()

    failed, later = asyncio.run(fail_then_answer())
    assert all(isinstance(error, ValueError) for error in failed) and len(failed) == 3
    assert later[0, 0] == 7.0


@pytest.mark.parametrize("parallel", [1, 2])
def test_texts_with_and_without_pairs_never_share_a_call(parallel: int) -> None:
    model = Recorder()

    async def mixed() -> None:
        batcher = Batcher(model, wait_s=0.05, parallel=parallel)
        batcher.start()
        try:
            await asyncio.gather(batcher.submit(["1"], None), batcher.submit(["2"], ["x"]), batcher.submit(["3"], None))
        finally:
            await batcher.stop()

    asyncio.run(mixed())
    assert sorted(map(sorted, model.calls)) == [["1", "3"], ["2"]]
