"""One writer per run folder: an exclusive lock held for the life of ``run``, ``--resume`` and ``report``.

Two ``ratchet run --overwrite`` into one folder would otherwise both exit 0 and leave one
run's config beside the other's ledger. The lock is an OS advisory lock (``flock``) on
``RUN/.ratchet.lock``: the kernel drops it when its holder exits, however it exits, so a
crashed or killed holder never leaves a stale lock behind (that is the stale-lock rule: the
file may stay, the lock does not). The file holds the holder's PID, host and start time, for
the error message of whoever finds the folder busy.

``ratchet worker`` processes join a running search: they take a *shared* lock on
``RUN/.ratchet-workers.lock``, which ``run --overwrite`` must be able to take exclusively
before it wipes the folder under them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ratchet.errors import RatchetError

try:  # POSIX; elsewhere the folder is simply not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".ratchet.lock"
WORKERS_LOCK_FILE = ".ratchet-workers.lock"
LOCK_FILES = (LOCK_FILE, WORKERS_LOCK_FILE)
"""Files a run folder may hold besides a run's own: never counted as "a non-empty folder"."""


class RunFolderBusy(RatchetError):
    """Another ratchet process holds the run folder."""


def _open_lock(path: Path) -> IO[str]:
    try:
        return open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise RatchetError(
            f"cannot create the lock file {path} ({exc.strerror}): choose a writable --out folder"
        ) from None


def holder_of(run_dir: Path) -> str:
    """'ratchet run (PID 123 on host, since 12:01:05)' from the lock file, or a plain fallback."""
    try:
        info = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another ratchet process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("since", 0)))
    return f"ratchet {info.get('command', '?')} (PID {info.get('pid', '?')} on {info.get('host', '?')}, since {since})"


def is_locked(run_dir: Path) -> bool:
    """Whether a ratchet process holds ``run_dir`` right now (the lock is tried and released at once)."""
    path = Path(run_dir) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return False
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def run_lock(run_dir: Path, command: str) -> Iterator[None]:
    """Hold ``run_dir`` exclusively; raise RunFolderBusy at once (no waiting) when another process has it."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RatchetError(
            f"cannot create the run folder {run_dir} ({exc.strerror}): choose a writable --out"
        ) from None
    handle = _open_lock(run_dir / LOCK_FILE)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunFolderBusy(
                    f"{run_dir} is in use by {holder_of(run_dir)}: wait for it to finish, or choose another --out"
                ) from None
        handle.seek(0)
        handle.truncate()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": time.time()}
        handle.write(json.dumps(info))
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock


@contextlib.contextmanager
def worker_lock(run_dir: Path) -> Iterator[None]:
    """A shared hold on ``run_dir`` for a search worker: many workers at once, but no --overwrite under them."""
    handle = _open_lock(Path(run_dir) / WORKERS_LOCK_FILE)
    try:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_SH)
        yield
    finally:
        handle.close()


def check_no_workers(run_dir: Path) -> None:
    """Before ``--overwrite`` wipes ``run_dir``: refuse while search workers still use it."""
    path = Path(run_dir) / WORKERS_LOCK_FILE
    if fcntl is None or not path.is_file():
        return
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(
                f"search workers (ratchet worker) are still running trials in {run_dir}: stop them before "
                "--overwrite, or choose another --out"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)
