"""Read a user's data file, whatever its format, into a DataFrame - or fail with one clear line.

Delimited text is read with every cell as a string: labels such as ``007`` or
``1.0`` reach the label list exactly as the user wrote them, and an empty cell
is the only thing that counts as missing (``NA`` or ``null`` may be real text).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
from pathlib import Path

import pandas as pd

from ratchet.data.json_tables import first_line_is_object, read_json_table
from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_write

DELIMITED = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSON_LINES = (".jsonl", ".ndjson")
PARQUET = (".parquet", ".pq")
TEXT_LINES = (".txt", ".text")
_COMPRESSED = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
SUPPORTED = "CSV, TSV, JSON Lines, JSON or Parquet"


def read_table(path: str | Path) -> pd.DataFrame:
    """Read CSV, TSV, JSON Lines, JSON or Parquet (``.gz``/``.bz2``/``.xz`` compressed too)."""
    path = Path(path)
    suffix = _format_suffix(path)
    if suffix in PARQUET:
        _check_file(path)
        frame = _read_parquet(path)
    else:
        text = read_text_file(path)
        if suffix in DELIMITED:
            frame = _read_declared(text, DELIMITED[suffix], path)
        elif suffix in JSON_LINES:
            frame = read_json_table(text, path, lines_first=True)
        elif suffix == ".json":
            frame = read_json_table(text, path, lines_first=False)
        else:
            frame = _read_unknown(text, path)
    _check_unique_columns([str(c) for c in frame.columns], path)
    if len(frame) == 0:
        raise RatchetError(f"{path} has no data rows: add rows below the header")
    if len(frame.columns) == 0:
        raise RatchetError(f"{path} has no columns: check the file contents")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Atomically write a frame (no index) - the form of every split under RUN/data/."""
    atomic_write(Path(path), lambda tmp: frame.to_parquet(tmp, index=False))


def read_unlabeled_texts(path: str | Path, text_col: str | None = None) -> list[str]:
    """Texts for domain adaptation: a ``.txt`` file (one text per line) or any table with a text column."""
    path = Path(path)
    if _format_suffix(path) in TEXT_LINES:
        lines = [line.strip() for line in read_text_file(path).splitlines()]
        return [line for line in lines if line]  # read_text_file refused a blank file already
    from ratchet.config import DataParams
    from ratchet.data.columns import resolve_text_column

    frame = read_table(path)
    column = resolve_text_column(frame, DataParams(text_col=text_col), exclude=())[0]
    values = frame[column].dropna().astype(str).str.strip()
    return [text for text in values if text]


def read_text_file(path: Path) -> str:
    """Decode a file as UTF-8 (with or without BOM); never guess another encoding silently."""
    _check_file(path)
    raw = path.read_bytes()
    decompress = _COMPRESSED.get(path.suffix.lower())
    if decompress is not None:
        try:
            raw = decompress(raw)
        except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
            raise RatchetError(f"cannot decompress {path} ({exc}): check that the file is complete") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise RatchetError(f"{path} is UTF-16 encoded, not UTF-8: re-save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A latin-1 fallback would turn every accented word into silent mojibake: ask instead.
        raise RatchetError(
            f"{path} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}): re-save it as UTF-8"
        ) from None
    if not text.strip():
        raise RatchetError(f"data file {path} is empty: fill it with data or pass another file")
    return text


def _check_file(path: Path) -> None:
    if not path.exists():
        raise RatchetError(f"data file not found: {path}: check the path")
    if path.is_dir():
        raise RatchetError(f"{path} is a directory, not a data file: pass the path of a {SUPPORTED} file")
    if path.stat().st_size == 0:
        raise RatchetError(f"data file {path} is empty: fill it with data or pass another file")


def _format_suffix(path: Path) -> str:
    """``train.csv.gz`` -> ``.csv``: the format is named by the suffix under the compression one."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _read_declared(text: str, sep: str, path: Path) -> pd.DataFrame:
    """Read with the extension's delimiter; a ".csv" saved with ";" (European Excel) fails or reads as
    one column, and then the delimiter the records really have is used instead."""
    try:
        frame = _read_delimited(text, sep, path)
    except DuplicateColumnError:
        raise
    except RatchetError:
        other = _guess_delimiter(text)
        if other is None or other == sep:
            raise
        return _read_delimited(text, other, path)
    if len(frame.columns) == 1:
        other = _guess_delimiter(text)
        if other is not None and other != sep:
            return _read_delimited(text, other, path)
    return frame


def _read_delimited(text: str, sep: str, path: Path) -> pd.DataFrame:
    if not text.splitlines()[0].strip(sep + " \t"):
        raise RatchetError(f"the first line of {path} is not a header: put the column names on line 1")
    header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    _check_unique_columns([name.strip() for name in header], path)
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise RatchetError(f"{path} has no columns or rows: add a header and data rows") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        name = "TSV" if sep == "\t" else "CSV" if sep == "," else f"{sep!r}-delimited"
        raise RatchetError(
            f"cannot parse {path} as {name} ({detail}): check the delimiter and the quoting of that line"
        ) from None


class DuplicateColumnError(RatchetError):
    """Final whatever the delimiter: another delimiter must not be tried after it."""


def _check_unique_columns(names: list[str], path: Path) -> None:
    """Two columns of one name: pandas would silently read the first (or rename the second "name.1")."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise DuplicateColumnError(
                f"columns {seen[name]} and {position} of {path} are both named {name!r}: rename one of them"
            )
        seen[name] = position


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # a damaged file: reported below by the full read
        names = []
    _check_unique_columns(names, path)
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise RatchetError(f"{path} is not a readable Parquet file ({type(exc).__name__}): re-export it") from None


def _read_unknown(text: str, path: Path) -> pd.DataFrame:
    """No known extension: JSON if it looks like JSON, else sniff the delimiter from the first lines."""
    if text.lstrip()[:1] in ("[", "{"):
        return read_json_table(text, path, lines_first=first_line_is_object(text.lstrip()))
    delimiter = _guess_delimiter(text)
    if delimiter is None:
        raise RatchetError(f"cannot tell the format of {path}: rename it to .csv, .tsv, .jsonl, .json or .parquet")
    return _read_delimited(text, delimiter, path)


def _guess_delimiter(text: str, records: int = 50) -> str | None:
    """The delimiter that splits the first records into one constant number (>= 2) of fields.

    csv.Sniffer alone gives up on quoted fields holding other candidate delimiters, which
    real text does all the time; parsing the first records with each candidate does not.
    """
    best: tuple[int, str] | None = None
    for delimiter in (",", "\t", ";", "|"):
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            widths = {len(row) for _, row in zip(range(records), reader, strict=False) if row}
        except csv.Error:
            continue
        if len(widths) == 1 and (width := widths.pop()) >= 2 and (best is None or width > best[0]):
            best = (width, delimiter)
    return None if best is None else best[1]
