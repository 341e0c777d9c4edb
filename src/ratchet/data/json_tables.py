"""Read JSON and JSON Lines files into a DataFrame: records, wrapped records or a dict of columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ratchet.errors import RatchetError


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a record with one key twice would silently keep only the last value."""
    keys = [key for key, _ in pairs]
    duplicated = next((key for key in keys if keys.count(key) > 1), None)
    if duplicated is not None:
        raise _DuplicateKey(duplicated)
    return dict(pairs)


class _DuplicateKey(ValueError):
    pass


def _loads(text: str, path: Path, where: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise RatchetError(
            f"{where}{path} names the key {exc.args[0]!r} twice in one record: keep one of them"
        ) from None


def read_json_table(text: str, path: Path, lines_first: bool) -> pd.DataFrame:
    """JSON Lines, or one JSON document; a ``.json`` file that is really JSON Lines is accepted too."""
    stripped = text.lstrip()
    looks_like_document = stripped.startswith("[") or (stripped.startswith("{") and not first_line_is_object(stripped))
    if lines_first and not looks_like_document:
        return _records_frame(_parse_json_lines(text, path), path)
    try:
        document = _loads(text, path, "")
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and first_line_is_object(stripped):
            return _records_frame(_parse_json_lines(text, path), path)
        raise RatchetError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): fix the file"
        ) from None
    return _document_frame(document, path)


def first_line_is_object(text: str) -> bool:
    first = text.split("\n", 1)[0].strip()
    if not first.startswith("{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def _parse_json_lines(text: str, path: Path) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_loads(line, path, f"line {number} of "))
        except json.JSONDecodeError as exc:
            raise RatchetError(
                f"line {number} of {path} is not valid JSON ({exc.msg}): fix that line (JSON Lines: one object a line)"
            ) from None
    return records


def _document_frame(document: Any, path: Path) -> pd.DataFrame:
    """A list of records, ``{"data": [records]}`` (any single key), or a dict of columns."""
    if isinstance(document, dict):
        wrapped = [v for v in document.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if "data" in document and isinstance(document["data"], list):
            return _records_frame(document["data"], path)
        if len(document) == 1 and len(wrapped) == 1:
            return _records_frame(wrapped[0], path)
        if document and all(isinstance(v, (list, dict)) for v in document.values()):
            try:
                return pd.DataFrame(document)
            except ValueError as exc:
                raise RatchetError(
                    f"{path}: JSON columns do not line up ({exc}): give every column as many values"
                ) from None
        raise RatchetError(
            f'{path} holds a JSON object that is not a table: use a list of records, {{"data": [...]}} '
            "or a dict of equally long columns"
        )
    if isinstance(document, list):
        return _records_frame(document, path)
    raise RatchetError(f"{path} holds a single JSON {type(document).__name__}, not a table: use a list of records")


def _records_frame(records: list[Any], path: Path) -> pd.DataFrame:
    if not records:
        raise RatchetError(f"{path} has no data rows: add records")
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise RatchetError(
            f"record {bad + 1} of {path} is a JSON {type(records[bad]).__name__}, not an object: "
            'write each row as {"text": ..., "label": ...}'
        )
    # dtype=object keeps integer labels as ints even next to missing values (no 1 -> 1.0).
    return pd.DataFrame(records, dtype=object)
