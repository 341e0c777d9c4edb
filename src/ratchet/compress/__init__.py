"""Lighter models of the shipped one: int8 dynamic quantization and a distilled student (the compress step)."""
