"""The run folder's identity: refuse to clobber an earlier run unless told to resume or overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.fsutil import write_text
from ratchet.runlock import LOCK_FILES, check_no_workers

RUN_MARKER = "config.yaml"


def is_run_dir(path: Path) -> bool:
    return (Path(path) / RUN_MARKER).is_file()


def require_run_dir(path: str | Path) -> Path:
    """An existing run folder (``report``, ``worker``), or a one-line error saying what the path is instead."""
    path = Path(path)
    if not path.exists():
        raise RatchetError(f"run folder not found: {path}: pass the --out folder of a ratchet run")
    if not path.is_dir():
        raise RatchetError(f"{path} is a file, not a run folder: pass the --out folder of a ratchet run")
    if not is_run_dir(path):
        raise RatchetError(f"{path} is not a ratchet run folder (no {RUN_MARKER}): pass the --out folder of a run")
    return path


def check_run_dir(config: RunConfig) -> None:
    """Raise before anything is written when ``out`` would lose an earlier run or unrelated files."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise RatchetError(f"--out {out} is a file, not a folder: choose a folder path")
    if not out.exists() or not _user_entries(out):
        return
    if is_run_dir(out):
        if config.resume or config.overwrite:
            return
        raise RatchetError(
            f"--out {out} holds an earlier run: pass --resume to continue it, --overwrite to replace it, "
            "or choose another folder"
        )
    raise RatchetError(f"--out {out} is a non-empty folder that is not a ratchet run: choose a new or empty folder")


def _user_entries(out: Path) -> list[Path]:
    return [entry for entry in out.iterdir() if entry.name not in LOCK_FILES]


def prepare_run_dir(config: RunConfig) -> Path:
    """Create (or reuse, or wipe on --overwrite) the run folder and write the resolved config.

    Call it while holding the folder's run lock: the lock file itself survives --overwrite, so a
    second process can never lock a fresh file while this one still holds the old one.
    """
    check_run_dir(config)
    out = Path(config.out)
    if config.overwrite and not config.resume and is_run_dir(out):
        check_no_workers(out)
        for entry in _user_entries(out):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RUN_MARKER, config.to_yaml())
    return out


SUPERSEDED = "superseded"
"""RUN/superseded/: step folders of an earlier recipe that the current one does not have."""


def set_aside_superseded_steps(run_dir: Path, current: list[str]) -> list[str]:
    """Move step folders that the current recipe does not name to RUN/superseded/; returns their names.

    A --resume with a changed recipe (a step added, say) numbers the later steps anew, so the old
    NN-evaluate would sit beside the new one: the report reads every folder under steps/, and it
    would show a test result the ledger no longer holds. Nothing is deleted; an older set-aside
    copy of the same name gives way to the newer one.
    """
    steps_dir = Path(run_dir) / "steps"
    if not steps_dir.is_dir():
        return []
    stale = sorted(p.name for p in steps_dir.iterdir() if p.is_dir() and p.name not in set(current))
    if stale:
        aside = Path(run_dir) / SUPERSEDED
        aside.mkdir(exist_ok=True)
        for name in stale:
            shutil.rmtree(aside / name, ignore_errors=True)
            shutil.move(str(steps_dir / name), str(aside / name))
    return stale
