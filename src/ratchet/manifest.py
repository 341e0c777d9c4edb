"""Per-step manifests (what ran, on which inputs, with what result) and the validation truth.

The manifest is what makes ``--resume`` safe: a step is skipped only when its
params and the hashes of every input it declared are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ratchet.artifacts import ArtifactStore
from ratchet.fsutil import atomic_write, hash_json, hash_path, read_json, write_json

if TYPE_CHECKING:
    from ratchet.step import Step

DONE_STATES = ("completed", "kept", "rejected", "skipped")
MANIFEST = "manifest.json"
PROBS = "valid_probs.npy"
REFERENCE_PROBS = "reference_probs.npy"


def step_dir_name(index: int, name: str) -> str:
    return f"{index + 1:02d}-{name}"


class _HashCache:
    """Hashing a 90 MB model folder takes a moment; rehash only when size or mtime changed."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, float], str] = {}

    def __call__(self, path: Path) -> str:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        stamp = (str(path), sum(f.stat().st_size for f in files), max((f.stat().st_mtime for f in files), default=0))
        if stamp not in self._cache:
            self._cache[stamp] = hash_path(path)
        return self._cache[stamp]


_hash = _HashCache()


@dataclasses.dataclass
class Manifest:
    step_dir: Path
    data: dict[str, Any]

    @classmethod
    def for_step(cls, step: Step, step_dir: Path, store: ArtifactStore, incumbent: np.ndarray | None) -> Manifest:
        params = dataclasses.asdict(step.params) if dataclasses.is_dataclass(step.params) else {}
        inputs: dict[str, str | None] = {}
        for key in (*step.requires, *getattr(step, "optional", ())):
            path = store.path(key)
            inputs[key] = None if path is None else _hash(path)
        if incumbent is not None:
            # The gate's verdict depends on the incumbent it is compared with.
            digest = hashlib.sha256(np.ascontiguousarray(incumbent, np.float32).tobytes())
            inputs["incumbent.valid_probs"] = digest.hexdigest()
        data = {
            "step": step.name,
            "gated": step.gated,
            "params": params,
            "params_hash": hash_json(params),
            "inputs": inputs,
            "status": "pending",
        }
        return cls(step_dir, data)

    @classmethod
    def load(cls, step_dir: Path) -> Manifest | None:
        path = step_dir / MANIFEST
        if not path.exists():
            return None
        try:
            return cls(step_dir, read_json(path))
        except ValueError:
            return None

    @property
    def status(self) -> str:
        return self.data.get("status", "pending")

    @property
    def ledger(self) -> dict[str, Any]:
        return self.data.get("ledger", {})

    def matches(self, other: Manifest) -> bool:
        return (
            self.data.get("step") == other.data["step"]
            and self.data.get("params_hash") == other.data["params_hash"]
            and self.data.get("inputs") == other.data["inputs"]
        )

    def provided_paths(self) -> dict[str, Path]:
        run_dir = self.step_dir.parent.parent
        return {key: run_dir / rel for key, rel in self.data.get("provides", {}).items()}

    def reset_dir(self) -> None:
        """Stale results (other params or inputs) are removed so nothing mixes with the new run."""
        if self.step_dir.exists():
            shutil.rmtree(self.step_dir)

    def mark_running(self) -> None:
        self.data.update(status="running", started_at=time.time())
        self._write()

    def mark_failed(self, exc: BaseException) -> None:
        self.data.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        self._write()

    def finish(
        self, status: str, provides: dict[str, Path], metrics: dict[str, Any], ledger_entry: dict[str, Any],
        seconds: float,
    ) -> None:  # fmt: skip
        run_dir = self.step_dir.parent.parent
        self.data.update(
            status=status,
            provides={k: str(Path(p).resolve().relative_to(run_dir.resolve())) for k, p in provides.items()},
            metrics=metrics,
            seconds=seconds,
            finished_at=time.time(),
            ledger=ledger_entry,
        )
        self._write()

    def _write(self) -> None:
        write_json(self.step_dir / MANIFEST, self.data)


def save_probs(step_dir: Path, probs: np.ndarray, name: str = PROBS) -> None:
    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(probs, dtype=np.float32))
        tmp.write_bytes(buffer.getvalue())

    atomic_write(step_dir / name, write)


def load_probs(step_dir: Path) -> np.ndarray | None:
    path = step_dir / PROBS
    return np.load(path) if path.exists() else None
