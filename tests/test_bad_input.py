"""Every bad input: one line naming the problem and the fix, exit code 2, no traceback, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from ratchet_testing import synthetic_rows

from ratchet.cli import main


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def good_rows(n: int = 30) -> list[dict]:
    return synthetic_rows(n, seed=3)


def expect_error(capsys, argv: list[str], *fragments: str) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    lines = [line for line in captured.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


def run_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", str(data), "--out", str(out), "--quiet", *extra]


def test_missing_file(capsys, tmp_path) -> None:
    expect_error(capsys, run_args(tmp_path / "nope.csv", tmp_path / "run"), "not found", "nope.csv")
    assert not (tmp_path / "run").exists()


def test_unknown_column_lists_available(capsys, tmp_path) -> None:
    data = write_csv(tmp_path / "d.csv", good_rows())
    expect_error(capsys, run_args(data, tmp_path / "run", "--label-col", "stars"), "stars", "sentiment", "review")


def test_undecodable_file(capsys, tmp_path) -> None:
    data = tmp_path / "latin.csv"
    data.write_bytes(b"text,label\n" + "caf\xe9 tr\xe8s bon,pos\n".encode("latin-1") * 5)
    expect_error(capsys, run_args(data, tmp_path / "run"), "utf-8")


def test_empty_file(capsys, tmp_path) -> None:
    data = tmp_path / "empty.csv"
    data.write_text("")
    expect_error(capsys, run_args(data, tmp_path / "run"), "empty")


def test_fewer_than_two_classes(capsys, tmp_path) -> None:
    rows = [{"text": f"some text {i}", "label": "pos"} for i in range(10)]
    expect_error(capsys, run_args(write_csv(tmp_path / "d.csv", rows), tmp_path / "run"), "class")


def test_class_with_a_single_example(capsys, tmp_path) -> None:
    rows = [*good_rows(), {"review": "a lonely text", "sentiment": "rare"}]
    expect_error(capsys, run_args(write_csv(tmp_path / "d.csv", rows), tmp_path / "run"), "rare")


def test_text_column_without_text(capsys, tmp_path) -> None:
    rows = [{"text": i * 7, "label": ["a", "b"][i % 2]} for i in range(20)]
    expect_error(capsys, run_args(write_csv(tmp_path / "d.csv", rows), tmp_path / "run"), "text")


def test_test_labels_unseen_in_training(capsys, tmp_path) -> None:
    data = write_csv(tmp_path / "d.csv", good_rows())
    test = write_csv(tmp_path / "t.csv", [{"review": "brand new", "sentiment": "mystery"}, *good_rows(6)])
    expect_error(capsys, run_args(data, tmp_path / "run", "--test", str(test)), "mystery")


def test_unknown_model_path(capsys, tmp_path) -> None:
    data = write_csv(tmp_path / "d.csv", good_rows())
    expect_error(capsys, run_args(data, tmp_path / "run", "--model", str(tmp_path / "no-such-model")), "no-such-model")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["train.epochs"], "key=value"),
        (["train.nonsense=1"], "nonsense"),
        (["--budget", "soon"], "budget"),
        (["--steps", "clean,fly"], "fly"),
    ],
)
def test_bad_options(capsys, tmp_path, extra, fragment) -> None:
    data = write_csv(tmp_path / "d.csv", good_rows())
    expect_error(capsys, run_args(data, tmp_path / "run", *extra), fragment)


def test_an_earlier_run_is_never_lost(capsys, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("data: old.csv\n")
    (out / "metrics.json").write_text('{"test": {"macro_f1": 0.9}}')
    data = write_csv(tmp_path / "d.csv", good_rows())
    expect_error(capsys, run_args(data, out), "--resume", "--overwrite")
    # Bad input with --overwrite must not wipe the old run either.
    expect_error(capsys, run_args(tmp_path / "missing.csv", out, "--overwrite"), "not found")
    assert (out / "metrics.json").read_text() == '{"test": {"macro_f1": 0.9}}'


def test_out_is_an_unrelated_folder(capsys, tmp_path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"meow")
    data = write_csv(tmp_path / "d.csv", good_rows())
    expect_error(capsys, run_args(data, out, "--overwrite"), "not a ratchet run")
    assert (out / "cat.jpg").exists()


def test_predict_on_a_folder_without_a_model(capsys, tmp_path) -> None:
    data = write_csv(tmp_path / "d.csv", good_rows())
    expect_error(capsys, ["predict", str(tmp_path), str(data), "--out", str(tmp_path / "p.csv")], "no trained model")


def test_every_option_of_every_command_has_help_text() -> None:
    import argparse

    from ratchet.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"ratchet {name} {action.option_strings or action.dest} has no help text"


def test_help_lists_the_steps_and_explains_the_presets(capsys) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    steps = "clean, split, baseline, relabel, select, search, adapt, train, chunk, ensemble, selftrain, compress, blend"
    assert f"{steps}, embed, calibrate, decide, evaluate, refit_all, report" in text
    fast = "clean, split, baseline, select (few-shot only), train, chunk, blend, embed, calibrate, decide, evaluate"
    fast += ", report"
    balanced = "a backbone race in select, relabel, search (12 trials, not on small data), a 2-seed ensemble"
    balanced += " and compress (int8 only on small data)"
    assert f"fast (default): {fast}; balanced: + {balanced};" in text
    assert "best: + adapt (30 trials, 3-seed ensemble)" in text
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ratchet 0.")
