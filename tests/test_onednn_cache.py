"""Importing ratchet caps oneDNN's kernel cache (CPU bf16 memory) unless the user set it."""

from __future__ import annotations

import os
import subprocess
import sys


def _capacity_after_import(env: dict[str, str]) -> str:
    code = "import os, ratchet; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_ratchet_sets_a_small_cache_and_respects_the_users_value() -> None:
    base = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    assert _capacity_after_import(base).strip() == "32"
    assert _capacity_after_import({**base, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}).strip() == "1024"
