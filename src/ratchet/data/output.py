"""Write a table the user will open: format by extension, spreadsheet formulas neutralised in CSV/TSV.

A text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula when a CSV opens in Excel, LibreOffice or Google Sheets (CSV injection). In CSV and
TSV outputs such a text gets one leading apostrophe, which spreadsheets show as text
(OWASP's rule). Parquet and JSON outputs keep every text exactly. The rule is reversible:
a text whose first non-apostrophe character is a formula character gets one more apostrophe,
so ``restore_formula_text`` gives back the original exactly (``--label-fixes`` reads a
reviewed ``label_issues.csv`` through it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ratchet.errors import RatchetError
from ratchet.fsutil import atomic_write

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
OUTPUT_FORMATS = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def _is_formula_like(text: str) -> bool:
    return text.lstrip("'").startswith(FORMULA_STARTS)


def neutralize_formula_text(value: Any) -> Any:
    """``=SUM(A1)`` -> ``'=SUM(A1)``; anything that is not such a string is returned unchanged."""
    if isinstance(value, str) and _is_formula_like(value):
        return "'" + value
    return value


def restore_formula_text(value: Any) -> Any:
    """The inverse of ``neutralize_formula_text``."""
    if isinstance(value, str) and value.startswith("'") and _is_formula_like(value):
        return value[1:]
    return value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells (object/string columns, and the column names) are neutralised."""
    return _map_text_cells(frame, neutralize_formula_text)


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return _map_text_cells(frame, restore_formula_text)


def _map_text_cells(frame: pd.DataFrame, function: Callable[[Any], Any]) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(function)
    out.columns = [function(str(c)) for c in out.columns]
    return out


def output_format(path: Path) -> str:
    """The extension that decides the format, or a one-line error listing the ones ratchet writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise RatchetError(
            f"cannot tell which format to write for {path}: end the file name in {', '.join(OUTPUT_FORMATS)}"
        )
    return suffix


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` atomically in the format the extension names (no index column)."""
    path = Path(path)
    suffix = output_format(path)
    if suffix in (".csv", ".tsv"):
        safe = neutralize_frame(frame)
        sep = "," if suffix == ".csv" else "\t"
        atomic_write(path, lambda tmp: safe.to_csv(tmp, index=False, sep=sep))
    elif suffix == ".parquet":
        try:
            atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
        except (TypeError, ValueError) as exc:  # pyarrow's ArrowInvalid / ArrowTypeError: a column mixing types
            raise RatchetError(
                f"cannot write {path} as Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]}): "
                "write .csv or .jsonl instead"
            ) from None
    elif suffix == ".jsonl":
        atomic_write(path, lambda tmp: frame.to_json(tmp, orient="records", lines=True, force_ascii=False))
    else:
        atomic_write(path, lambda tmp: frame.to_json(tmp, orient="records", force_ascii=False, indent=1))
