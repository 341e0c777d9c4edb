"""Models that leave ratchet: ONNX graphs and a standalone reader (ratchet export)."""

from __future__ import annotations

from ratchet.export.predictor import is_export, load_export_predictor, open_export

__all__ = ["is_export", "load_export_predictor", "open_export"]
