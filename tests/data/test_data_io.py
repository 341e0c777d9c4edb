"""Reading every supported format, the real drug-review TSV, and every unreadable input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from ratchet.data.io import read_table, read_unlabeled_texts
from ratchet.errors import RatchetError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "drug_reviews"
ROWS = [
    {"text": 'Great, really "great" stuff', "label": 1},
    {"text": "awful; never again", "label": 0},
    {"text": "naïve café, 日本語", "label": 1},
]


def _check(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == [r["text"] for r in ROWS]
    assert [str(v) for v in frame["label"]] == ["1", "0", "1"]


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("d.csv", lambda p: pd.DataFrame(ROWS).to_csv(p, index=False)),
        ("d.tsv", lambda p: pd.DataFrame(ROWS).to_csv(p, sep="\t", index=False)),
        ("d.tab", lambda p: pd.DataFrame(ROWS).to_csv(p, sep="\t", index=False)),
        ("d.jsonl", lambda p: p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n")),
        ("d.ndjson", lambda p: p.write_text("\n".join(json.dumps(r) for r in ROWS))),
        ("d.json", lambda p: p.write_text(json.dumps(ROWS))),
        ("wrapped.json", lambda p: p.write_text(json.dumps({"data": ROWS, "version": 2}))),
        ("columns.json", lambda p: p.write_text(json.dumps({k: [r[k] for r in ROWS] for k in ("text", "label")}))),
        ("lines.json", lambda p: p.write_text("\n".join(json.dumps(r) for r in ROWS))),
        ("d.parquet", lambda p: pd.DataFrame(ROWS).to_parquet(p, index=False)),
        ("d.csv.gz", lambda p: p.write_bytes(gzip.compress(pd.DataFrame(ROWS).to_csv(index=False).encode()))),
        ("semicolon.data", lambda p: pd.DataFrame(ROWS).to_csv(p, sep=";", index=False)),
        ("excel.csv", lambda p: pd.DataFrame(ROWS).to_csv(p, sep=";", index=False)),
        ("records.data", lambda p: p.write_text(json.dumps(ROWS))),
        ("bom.csv", lambda p: p.write_bytes(b"\xef\xbb\xbf" + pd.DataFrame(ROWS).to_csv(index=False).encode())),
    ],
)
def test_round_trip(tmp_path: Path, name: str, write) -> None:
    path = tmp_path / name
    write(path)
    _check(read_table(path))


def test_labels_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,007\nb,NA\nc,\n")
    frame = read_table(path)
    # Leading zeros survive, "NA" is a label, only an empty cell is missing.
    assert frame["label"].tolist()[:2] == ["007", "NA"]
    assert pd.isna(frame["label"].iloc[2])


def test_json_int_labels_stay_ints_next_to_gaps(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 3}\n{"text": "b", "label": null}\n')
    assert read_table(path)["label"].tolist() == [3, None]


@pytest.mark.parametrize(("name", "rows"), [("train.tsv", 600), ("test.tsv", 379)])
def test_drug_reviews_parse(name: str, rows: int) -> None:
    frame = read_table(EXAMPLES / name)
    assert len(frame) == rows
    assert list(frame.columns) == ["Unnamed: 0", "drugName", "condition", "review", "rating", "date", "usefulCount"]
    assert set(frame["rating"]) == {"negative", "neutral", "positive"}
    # Triple-quoted reviews arrive whole: one wrapping quote left each side, newlines inside kept.
    assert frame["review"].str.startswith('"').all() and frame["review"].str.endswith('"').all()
    assert frame["review"].str.contains("\n").any()
    assert frame["usefulCount"].str.fullmatch(r"\d+").all()  # nothing spilled into the next column
    if name == "train.tsv":
        assert frame["review"].iloc[1].endswith('Hurray for Dilaudid."')


@pytest.mark.parametrize(
    ("setup", "fragments"),
    [
        (lambda d: d / "missing.csv", ["data file not found", "missing.csv", "check the path"]),
        (lambda d: d, ["is a directory"]),
        (lambda d: _write(d / "e.csv", b""), ["empty"]),
        (lambda d: _write(d / "blank.jsonl", b"\n  \n"), ["empty"]),
        (lambda d: _write(d / "h.csv", b"text,label\n"), ["no data rows"]),
        (lambda d: _write(d / "l.csv", "text,label\ncaf\xe9,a\n".encode("latin-1")), ["not valid utf-8", "re-save"]),
        (lambda d: _write(d / "u16.csv", "text,label\nx,a\n".encode("utf-16")), ["utf-16", "re-save it as utf-8"]),
        (lambda d: _write(d / "bad.json", b'[{"text": "a",}]'), ["not valid json", "line 1"]),
        (lambda d: _write(d / "bad.jsonl", b'{"text": "a"}\n{"text": \n'), ["line 2", "not valid json"]),
        (lambda d: _write(d / "scalars.json", b'["a", "b"]'), ["not an object"]),
        (lambda d: _write(d / "one.json", b"42"), ["not a table"]),
        (lambda d: _write(d / "bad.parquet", b"PAR1 nonsense"), ["parquet", "re-export"]),
        (lambda d: _write(d / "ragged.csv", b'text,label\n"a,b\n'), ["cannot parse", "csv"]),
        (lambda d: _write(d / "mystery.bin", b"justonewordperline\nanother\n"), ["cannot tell the format"]),
    ],
)
def test_bad_inputs(tmp_path: Path, setup, fragments: list[str]) -> None:
    path = setup(tmp_path)
    with pytest.raises(RatchetError) as info:
        read_table(path)
    message = str(info.value)
    assert "\n" not in message and ": " in message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_unlabeled_texts(tmp_path: Path) -> None:
    txt = _write(tmp_path / "u.txt", b"first text\n\n  second text  \n")
    assert read_unlabeled_texts(txt) == ["first text", "second text"]
    table = tmp_path / "u.csv"
    pd.DataFrame({"id": [1, 2, 3], "sentence": ["a b", None, "c d"]}).to_csv(table, index=False)
    assert read_unlabeled_texts(table) == ["a b", "c d"]
    with pytest.raises(RatchetError, match="empty"):
        read_unlabeled_texts(_write(tmp_path / "empty_lines.txt", b"\n \n"))


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("dup.csv", "text,label,text\nhello,a,x\nbye,b,y\n", "columns 1 and 3 of"),
        ("dup.tsv", "label\ttext\ttext\na\thello\tx\n", "columns 2 and 3 of"),
        ("dup.jsonl", '{"text": "a", "label": "x", "text": "b"}\n', "line 1 of"),
        ("dup.json", '[{"text": "a", "label": "x"}, {"label": "y", "label": "z", "text": "c"}]', "key 'label' twice"),
    ],
)
def test_two_columns_of_one_name_are_an_error_naming_them(tmp_path: Path, name: str, content: str, fragment) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RatchetError, match=fragment):
        read_table(path)


def test_two_parquet_columns_of_one_name_are_an_error(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        [pa.array(["a", "b"]), pa.array(["x", "y"]), pa.array(["c", "d"])], names=["text", "label", "text"]
    )
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(RatchetError, match=r"columns 1 and 3 of .* both named 'text'"):
        read_table(tmp_path / "dup.parquet")
