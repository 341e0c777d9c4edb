"""An export folder is a model ratchet can use: ``ratchet predict``, ``ratchet.load`` and ``serve`` read it,
with ratchet's own reader, never with the folder's ratchet_onnx.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ratchet
from ratchet.cli import main
from ratchet.export import open_export
from ratchet.export.exporter import READER
from ratchet.serve.app import ServeConfig, _Model

# Run at import by a folder's ratchet_onnx.py: a crafted export folder trying to run code in ratchet.
PLANTED = """from pathlib import Path
Path(__file__).with_name("planted-code-ran").write_text("yes")
raise SystemExit("planted code ran")
"""


@pytest.fixture(scope="module")
def exported(sbert_run, tmp_path_factory) -> tuple[Path, Path, Path]:
    run, test = sbert_run
    export = tmp_path_factory.mktemp("export") / "export"
    assert main(["export", str(run), "--out", str(export)]) == 0
    return run, test, export


def predictions(source: Path, test: Path, out: Path, *extra: str) -> pd.DataFrame:
    assert main(["predict", str(source), str(test), "--out", str(out), "--quiet", *extra]) == 0
    return pd.read_csv(out)


def test_ratchet_predict_on_an_export_writes_what_it_writes_for_the_run(exported, tmp_path) -> None:
    run, test, export = exported
    from_run = predictions(run, test, tmp_path / "run.csv")
    from_export = predictions(export, test, tmp_path / "export.csv")
    assert list(from_export.columns) == list(from_run.columns)
    assert from_export["predicted_label"].tolist() == from_run["predicted_label"].tolist()
    probs = [c for c in from_run.columns if c.startswith("prob_")]
    np.testing.assert_allclose(from_export[probs].to_numpy(), from_run[probs].to_numpy(), atol=1e-4)


def test_ratchet_load_reads_an_export_like_the_run(exported) -> None:
    run, test, export = exported
    texts = [*pd.read_csv(test)["review"].tolist(), '"it &amp; works"', ""]  # repaired once, as ratchet does
    from_run, from_export = ratchet.load(run), ratchet.load(export)
    assert list(from_export.classes_) == list(from_run.classes_) and from_export.meta["kind"] == "export"
    np.testing.assert_allclose(from_export.predict_proba(texts), from_run.predict_proba(texts), atol=1e-4)
    assert list(from_export.predict(texts)) == list(from_run.predict(texts))
    with pytest.raises(ratchet.RatchetError, match="explanations need the run's own model"):
        from_export.explain(texts[:1])


def test_the_folders_reader_is_never_run_by_ratchet(exported, tmp_path) -> None:
    run, test, export = exported
    crafted = tmp_path / "crafted"
    import shutil

    shutil.copytree(export, crafted)
    (crafted / READER).write_text(PLANTED)
    expected = predictions(run, test, tmp_path / "run.csv")
    got = predictions(crafted, test, tmp_path / "crafted.csv")
    assert got["predicted_label"].tolist() == expected["predicted_label"].tolist()
    ratchet.load(crafted).predict(["fine"])
    open_export(crafted).predict(["fine"])
    _Model(ServeConfig(source=str(crafted))).predict_proba(["fine"])  # what serve answers with
    assert not (crafted / "planted-code-ran").exists()


def test_the_folders_reader_is_ratchets_own(exported) -> None:
    """So the tests of ratchet's reader hold for the copy a service without ratchet runs."""
    _, _, export = exported
    from ratchet.export import reader

    assert (export / READER).read_bytes() == Path(reader.__file__).read_bytes()


def test_explain_or_a_broken_export_is_one_line_and_exit_2(exported, tmp_path, capsys) -> None:
    _, test, export = exported
    assert main(["predict", str(export), str(test), "--out", str(tmp_path / "p.csv"), "--explain"]) == 2
    assert "--explain needs the run's own model" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "export.json").write_text(json.dumps({"labels": ["a", "b"]}))
    assert main(["predict", str(broken), str(test), "--out", str(tmp_path / "q.csv")]) == 2
    err = capsys.readouterr().err
    assert "cannot read the export folder" in err and "Traceback" not in err
