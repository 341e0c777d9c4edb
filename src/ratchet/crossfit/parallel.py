"""Fold fits in forked worker processes, their bars and log lines relayed to the run's own.

On a CPU a fine-tune's matrix products do not use two cores fully: on the 2-core machine
ratchet is measured on, two single-thread fold fits side by side trained 1.23x the tokens/s of
one two-thread fit (benchmarks/fold_profile.py --threads). Cross-fitting fits k independent
folds, so ``gate.fold_workers`` (auto: 2 on a CPU with 2 or more threads, 1 on an accelerator)
runs them in waves of that many processes. A fork, not a spawn: the child starts with the
parent's memory, so the frozen layers' cached states (training/frozen.py) and the task's
tokenization are shared, not recomputed, and the fold fit needs no pickling.

A worker reports over its own pipe: ("bar", ...) messages that the parent replays on its
progress display (a terminal bar or plain lines), log records that the parent logs through its
handlers (console and run log), and last its outcome (the FoldFit, TooLittleTime, or another
error). A worker that dies without an outcome is an error that names its exit code.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger("ratchet")

PARALLEL_COST = 1.63
"""A fold fit's time in a wave of two single-thread workers over its time alone with both threads: 2,386
tokens/s alone against 1,465 each side by side (fold_profile.py on the demo). Budgets plan waves with it."""


@dataclass(frozen=True)
class Workers:
    count: int
    """Fold fits at once; 1 runs every fold in the run's own process."""
    threads: int
    """Torch threads of each worker."""

    def describe(self) -> str:
        return f"{self.count} worker processes x {self.threads} thread{'s' if self.threads > 1 else ''}"


def resolve_workers(setting: int | str, device: str) -> Workers:
    """``gate.fold_workers`` for this run: auto is 2 on a Linux CPU with 2+ threads, else 1; never more workers
    than threads, and 1 wherever fork is missing or the device is an accelerator."""
    import torch

    threads = torch.get_num_threads()
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if not device.startswith("cpu") or not forkable:
        return Workers(1, threads)  # CUDA cannot be forked; one accelerator runs one fit at a time anyway
    # auto was measured on Linux only; elsewhere (macOS's system frameworks dislike fork) folds run in turn
    # unless a number is asked for.
    linux_pair = 2 if threads >= 2 and sys.platform.startswith("linux") else 1
    count = linux_pair if setting == "auto" else int(setting)
    count = max(1, min(count, threads))
    return Workers(count, max(1, threads // count))


@dataclass
class Outcome:
    fitted: Any = None
    """The fold's FoldFit, when it finished."""
    error: BaseException | None = None


def run_wave(jobs: list[Callable[[], Any]], progress: Any, threads: int) -> list[Outcome]:
    """Each job in a forked worker at once; its outcome (a job's return value or its exception) in job order."""
    context = multiprocessing.get_context("fork")
    readers: dict[Connection, int] = {}
    processes = []
    for index, job in enumerate(jobs):
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(writer, job, threads), daemon=True)
        process.start()
        writer.close()  # the parent's copy: the reader sees EOF when the worker's end closes
        readers[reader] = index
        processes.append(process)
    outcomes = [Outcome() for _ in jobs]
    finished = [False] * len(jobs)
    bars = _RelayedBars(progress)
    try:
        while readers:
            for reader in wait(list(readers)):
                index = readers[reader]
                try:
                    message = reader.recv()
                except EOFError:
                    del readers[reader]
                    continue
                kind = message[0]
                if kind == "bar":
                    bars.apply(index, *message[1:])
                elif kind == "log":
                    log.log(message[1], "%s", message[2])
                else:
                    outcomes[index] = Outcome(message[1], message[2])
                    finished[index] = True
        for index, process in enumerate(processes):
            process.join()
            if not finished[index]:
                died = RuntimeError(f"fold worker {index + 1} died (exit code {process.exitcode})")
                outcomes[index] = Outcome(error=died)
    finally:
        bars.close_all()
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    return outcomes


def _work(writer: Connection, job: Callable[[], Any], threads: int) -> None:
    """The worker: relay bars and log lines, run the job, send its outcome, and leave without the parent's
    exit handlers (a terminal display or a run log belongs to the parent)."""
    import torch
    from threadpoolctl import threadpool_limits

    code = 0
    try:
        torch.set_num_threads(threads)
        _relay_logging(writer)
        # NumPy's BLAS too (the TF-IDF baseline's solver): two workers with every thread each would fight.
        with _progress_relay(writer), threadpool_limits(limits=threads):
            try:
                writer.send(("done", job(), None))
            except BaseException as exc:  # every failure goes to the parent, which decides
                writer.send(("done", None, _picklable(exc)))
    except BaseException:  # the pipe itself failed: the parent sees the exit code
        traceback.print_exc()
        code = 1
    finally:
        writer.close()
        os._exit(code)


def _picklable(exc: BaseException) -> BaseException:
    import pickle

    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # an exception that cannot travel travels as its text
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class _PipeHandler(logging.Handler):
    def __init__(self, writer: Connection) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        self.writer.send(("log", record.levelno, record.getMessage()))


def _relay_logging(writer: Connection) -> None:
    """The worker's ratchet log lines go to the parent, which writes them where the run's lines go."""
    level = log.getEffectiveLevel()
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.addHandler(_PipeHandler(writer))
    log.setLevel(level)
    log.propagate = False


_CURRENT: list[Any] = []
"""The worker's relay, for the job's progress: set by _progress_relay in the worker only."""


@contextmanager
def _progress_relay(writer: Connection) -> Iterator[None]:
    _CURRENT.append(RelayedProgress(writer))
    try:
        yield
    finally:
        _CURRENT.pop()


def worker_progress(default: Any) -> Any:
    """The progress a fold fit should use: the relay inside a worker, ``default`` in the run's own process."""
    return _CURRENT[-1] if _CURRENT else default


class RelayedProgress:
    """A worker's stand-in for the run's Progress: ``bar`` and ``log`` become messages to the parent."""

    enabled = True

    def __init__(self, writer: Connection) -> None:
        self._writer = writer
        self._next = 0

    @contextmanager
    def bar(self, description: str, total: float | None, **fields: Any) -> Iterator[_RelayedBar]:
        self._next += 1
        bar = _RelayedBar(self._writer, self._next)
        self._writer.send(("bar", "open", bar.number, (description, total, fields)))
        try:
            yield bar
        finally:
            self._writer.send(("bar", "close", bar.number, None))

    def log(self, message: str) -> None:
        self._writer.send(("log", logging.INFO, message))


class _RelayedBar:
    def __init__(self, writer: Connection, number: int) -> None:
        self._writer, self.number = writer, number

    def advance(self, n: float = 1, **fields: Any) -> None:
        self._writer.send(("bar", "advance", self.number, (n, fields)))

    def update(self, total: float | None = None, **fields: Any) -> None:
        self._writer.send(("bar", "update", self.number, (total, fields)))


class _RelayedBars:
    """The parent's side: one real bar per worker bar, opened and closed as the worker's are."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._open: dict[tuple[int, int], tuple[AbstractContextManager, Any]] = {}

    def apply(self, worker: int, action: str, number: int, payload: Any) -> None:
        key = (worker, number)
        if action == "open":
            if self._progress is None:
                return
            description, total, fields = payload
            manager = self._progress.bar(f"{description} (fold worker {worker + 1})", total, **fields)
            self._open[key] = (manager, manager.__enter__())
        elif action == "close":
            opened = self._open.pop(key, None)
            if opened is not None:
                opened[0].__exit__(None, None, None)
        elif key in self._open:
            handle = self._open[key][1]
            if action == "advance":
                handle.advance(payload[0], **payload[1])
            else:
                handle.update(payload[0], **payload[1])

    def close_all(self) -> None:
        for manager, _ in self._open.values():
            manager.__exit__(None, None, None)
        self._open.clear()
