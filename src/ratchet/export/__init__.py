"""Models that leave ratchet: ONNX graphs and a standalone reader (ratchet export)."""
