"""Models that leave ratchet: ONNX graphs and a standalone reader (ratchet export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_export(folder: str | Path, threads: int | None = None) -> Any:
    """The ExportedModel of an export folder, read by the folder's own ratchet_onnx.py (as a user would)."""
    import importlib.util

    folder = Path(folder)
    spec = importlib.util.spec_from_file_location(f"ratchet_onnx_{abs(hash(folder.resolve()))}",
                                                  folder / "ratchet_onnx.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ExportedModel(folder, threads=threads)
