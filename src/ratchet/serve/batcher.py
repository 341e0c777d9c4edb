"""Dynamic batching: texts of concurrent requests go through the model together.

A model call on 64 texts costs far less than 64 calls on one, so requests that arrive while
the model is busy (or within ``wait_s`` of each other) are joined into one call of at most
``max_batch`` texts. One worker thread runs the model: PyTorch and onnxruntime use every core
inside a call already, and one call at a time keeps memory bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Predict = Callable[[list[str], list[str] | None], np.ndarray]


@dataclass
class _Job:
    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future = field(repr=False)


class Batcher:
    def __init__(self, predict: Predict, max_batch: int = 64, wait_s: float = 0.005) -> None:
        self.predict, self.max_batch, self.wait_s = predict, max_batch, wait_s
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.calls = 0

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def submit(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(texts, pairs, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0].texts)
            deadline = loop.time() + self.wait_s
            while size < self.max_batch:
                timeout = deadline - loop.time()
                try:
                    job = self.queue.get_nowait() if timeout <= 0 else await asyncio.wait_for(self.queue.get(), timeout)
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                jobs.append(job)
                size += len(job.texts)
            # Requests with and without pairs cannot share a call; a model reads one or the other anyway.
            for group in ([j for j in jobs if j.pairs is None], [j for j in jobs if j.pairs is not None]):
                if group:
                    await self._call(loop, group)

    async def _call(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        pairs = None if jobs[0].pairs is None else [p for job in jobs for p in job.pairs]
        try:
            probs = await loop.run_in_executor(None, self.predict, texts, pairs)
        except Exception as exc:  # every waiting request gets the error, the loop goes on
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.calls += 1
        start = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_result(probs[start : start + len(job.texts)])
            start += len(job.texts)
