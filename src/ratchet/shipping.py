"""Copy the accepted model into RUN/model, the folder ``predict`` and users load."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ratchet.fsutil import atomic_dir, read_json, write_json


def ship_model(source: Path, target: Path, extra_meta: dict[str, Any] | None = None) -> None:
    """Mirror ``source`` into ``target`` (hard links), with ``extra_meta`` merged into ratchet.json."""
    source = Path(source)

    def build(tmp: Path) -> None:
        for item in source.iterdir():
            if item.is_dir():
                shutil.copytree(item, tmp / item.name, copy_function=_link_or_copy)
            elif item.name == "ratchet.json" and extra_meta:
                write_json(tmp / item.name, {**read_json(item), **extra_meta})
            else:
                _link_or_copy(str(item), str(tmp / item.name))

    atomic_dir(target, build)


def a_model_of_kind(kind: object) -> str:
    """'a linear model', 'an ensemble model': the article a shipped folder's kind takes in messages."""
    word = str(kind)
    article = "an" if word[:1].lower() in "aeiou" else "a"
    return f"{article} {word} model"


def _link_or_copy(src: str, dst: str) -> str:
    # Hard links cost no space; files are never modified in place (atomic writes), so sharing is safe.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
