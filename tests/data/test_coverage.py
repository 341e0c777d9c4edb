"""What the model sees: token lengths and truncation, unknown-token coverage, scripts; ``inspect --json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ratchet.cli import main
from ratchet.data.coverage import (
    guess_latin_language,
    length_section,
    load_tokenizer,
    model_view,
    sample_rows,
    script_of,
    script_section,
    tokenizer_coverage,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "drug_reviews"
CHINESE = [
    "这个药非常好用，我吃了两个星期以后头痛就好了。",
    "副作用太大了，我不推荐。晚上睡不着觉，还一直恶心。",
    "效果一般，价格太贵，医生说可以换一种。",
    "吃完以后胃口变差了，体重下降很多。",
    "完全没有效果，浪费钱。",
    "医生推荐的，用了三天就见效，非常满意。",
]


@pytest.fixture(scope="module")
def tokenizer():
    # The default model's tokenizer only (no weights): loads in a second.
    return load_tokenizer("default")


def test_token_lengths_and_truncated_share() -> None:
    lengths = np.array([5, 10, 40, 300, 600])
    section = length_section(lengths, max_length=256, model="m")
    assert section["truncated_rows"] == 2 and section["truncated_share"] == 0.4
    assert section["median"] == 40 and section["max"] == 600
    hist = section["histogram"]
    assert sum(hist["counts"]) == 5 and hist["edges"][0] == 0 and hist["edges"][-1] >= 600


def test_chinese_with_an_english_vocabulary_is_flagged_loudly(tokenizer) -> None:
    _, coverage, scripts, warnings = model_view(CHINESE * 5, None, model="default", max_length=256, tokenizer=tokenizer)
    assert coverage["poor"] and coverage["unk_share_chars"] > 0.5
    assert scripts["scripts"] == {"Han": 30}
    assert len(warnings) == 1 and warnings[0].startswith("POOR TOKENIZER COVERAGE")
    assert f"{coverage['unk_share_chars']:.1%} of characters" in warnings[0]


def test_english_reviews_are_covered(tokenizer) -> None:
    texts = pd.read_csv(EXAMPLES / "train.tsv", sep="\t")["review"].astype(str).tolist()[:100]
    coverage = tokenizer_coverage(tokenizer, texts)
    assert not coverage["poor"] and coverage["unk_share_words"] < 0.01 and coverage["words"] > 1000
    lengths, _, _, warnings = model_view(texts, None, model="default", max_length=16, tokenizer=tokenizer)
    assert lengths["truncated_share"] > 0.9  # almost every review is longer than 16 tokens
    assert any("max_length=16" in w for w in warnings)


def test_scripts_and_languages() -> None:
    assert script_of("Привет мир, hello") == ("Cyrillic", pytest.approx(9 / 14))
    assert script_of("123 !!") == ("none", 0.0)
    assert script_of("ሰላም ነው")[0] == "other"  # Ethiopic: not in the table, still letters
    assert guess_latin_language("el medicamento es muy bueno y no tengo dolor") == "es"
    assert guess_latin_language("xyz") is None
    section = script_section(["the drug was good and it helped", "Очень хороший препарат", "很好", "!!"])
    assert section["scripts"] == {"Latin": 1, "Cyrillic": 1, "Han": 1, "none": 1}
    assert section["latin_languages"] == {"en": 1}


def test_sample_rows_bounds_the_work() -> None:
    assert sample_rows(10).tolist() == list(range(10))
    rows = sample_rows(100_000, limit=500)
    assert len(rows) == 500 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, sample_rows(100_000, limit=500))


def test_linear_model_has_no_tokenizer_to_measure() -> None:
    lengths, coverage, scripts, warnings = model_view(["a b"], None, model="linear", max_length=8)
    assert "skipped" in coverage and "skipped" in lengths and scripts["scripts"] == {"Latin": 1} and not warnings


def test_inspect_json_has_the_documented_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"text": t, "label": "a" if i % 2 else "b"} for i, t in enumerate(CHINESE)]
    rows.append({"text": CHINESE[0] + "！！", "label": "a"})  # a near-copy differing by punctuation
    path = tmp_path / "zh.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"rows", "duplicates", "near_duplicates", "conflicts", "coverage", "lengths", "classes"} <= set(report)
    assert report["coverage"]["poor"] is True
    assert report["near_duplicates"]["groups"] == 1 and report["near_duplicates"]["rows"] == 2
    assert report["lengths"]["tokens"]["max_length"] == 256
    assert any("POOR TOKENIZER COVERAGE" in w for w in report["warnings"])
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "near-duplicates (Jaccard >= 0.9): 1 groups" in text and "warning: POOR TOKENIZER COVERAGE" in text
