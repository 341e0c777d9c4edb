"""The run folder's identity: refuse to clobber an earlier run unless told to resume or overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

from ratchet.config import RunConfig
from ratchet.errors import RatchetError
from ratchet.fsutil import write_text

RUN_MARKER = "config.yaml"


def is_run_dir(path: Path) -> bool:
    return (Path(path) / RUN_MARKER).is_file()


def check_run_dir(config: RunConfig) -> None:
    """Raise before anything is written when ``out`` would lose an earlier run or unrelated files."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise RatchetError(f"--out {out} is a file, not a folder: choose a folder path")
    if not out.exists() or not any(out.iterdir()):
        return
    if is_run_dir(out):
        if config.resume or config.overwrite:
            return
        raise RatchetError(
            f"--out {out} holds an earlier run: pass --resume to continue it, --overwrite to replace it, "
            "or choose another folder"
        )
    raise RatchetError(f"--out {out} is a non-empty folder that is not a ratchet run: choose a new or empty folder")


def prepare_run_dir(config: RunConfig) -> Path:
    """Create (or reuse, or wipe on --overwrite) the run folder and write the resolved config."""
    check_run_dir(config)
    out = Path(config.out)
    if config.overwrite and not config.resume and is_run_dir(out):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RUN_MARKER, config.to_yaml())
    return out
