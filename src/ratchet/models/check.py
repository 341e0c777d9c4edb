"""Check a ``--model`` before a run writes anything: a folder that is not a model must fail in preflight.

Only the configuration is read (no weights), so the check costs well under a second.
"""

from __future__ import annotations

from pathlib import Path

from ratchet.errors import RatchetError

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")


def check_model_source(name_or_path: str) -> str:
    """The resolved folder or hub name of a backbone, or a one-line RatchetError saying what is wrong."""
    from ratchet.models.source import DEFAULT_MODEL, resolve_model_path

    given = Path(name_or_path).expanduser()
    if name_or_path != DEFAULT_MODEL and given.is_file():
        raise RatchetError(
            f"--model {name_or_path} is a file, not a model folder: pass the folder that holds config.json"
        )
    _check_not_a_ratchet_model(given)
    resolved = resolve_model_path(name_or_path)
    folder = Path(resolved)
    if not folder.is_dir():  # a hub name transformers will fetch: nothing local to check
        return resolved
    if not (folder / "config.json").is_file():
        raise RatchetError(
            f"--model {name_or_path} is not a model folder (no config.json): pass a folder written by "
            "save_pretrained, or a Hugging Face name"
        )
    config = _read_config(folder, name_or_path)
    if config.get("auto_map"):
        raise RatchetError(
            f"--model {name_or_path} needs its own Python code (auto_map in config.json), which ratchet never "
            "runs: pick a model that transformers supports natively"
        )
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise RatchetError(
            f"--model {name_or_path} holds no weights ({' or '.join(WEIGHT_FILES[:1] + WEIGHT_FILES[2:3])}): "
            "copy the whole model folder"
        )
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise RatchetError(
            f"--model {name_or_path} holds no tokenizer (tokenizer.json): save the tokenizer into the folder too"
        )
    return resolved


def _check_not_a_ratchet_model(folder: Path) -> None:
    """A shipped ratchet folder is a backbone only when it holds a fine-tuned transformer (its encoder is used)."""
    import json

    meta = folder / "ratchet.json"
    if not meta.is_file():
        return
    try:
        kind = json.loads(meta.read_text(encoding="utf-8")).get("kind", "transformer")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        kind = "unreadable"
    if kind != "transformer":
        raise RatchetError(
            f"--model {folder} is a ratchet model of kind {kind!r}, not a backbone: pass a pretrained model, or "
            "a ratchet model folder that holds one fine-tuned transformer (an ensemble's members/0, for example)"
        )


def _read_config(folder: Path, name: str) -> dict:
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RatchetError(
            f"--model {name}: config.json cannot be read ({type(exc).__name__}): restore the model folder"
        ) from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise RatchetError(f"--model {name}: config.json names no model_type: restore the model folder")
    return config
