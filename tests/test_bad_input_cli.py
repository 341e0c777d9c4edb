"""Every bad input of the hardening issue, through the real CLI in a subprocess.

Each case must end with exit code 2 and exactly one line on stderr that starts with
``error:`` and names the problem (no traceback), and must leave nothing of an earlier run
lost: where the case says so, the run folder is not created, the input file is unchanged,
or the earlier run folder is byte-for-byte the same.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from ratchet_testing import FAST_TRAIN, synthetic_rows

from ratchet.cli import main
from ratchet.fsutil import hash_path

CLI = [sys.executable, "-m", "ratchet"]  # src/ratchet/__main__.py, as a user would type it


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@dataclass
class World:
    root: Path
    data: Path
    test: Path
    tiny: Path
    linear_run: Path
    """A finished run whose shipped model is the TF-IDF baseline (clean, split, baseline, evaluate)."""
    bert_run: Path
    """A finished run whose shipped model is a tiny BERT fine-tune."""
    scratch: list[Path] = field(default_factory=list)

    def copy_run(self, source: Path, name: str) -> Path:
        target = self.root / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True)
        return target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir) -> World:
    root = tmp_path_factory.mktemp("bad-input-cli")
    data, test = root / "train.csv", root / "test.csv"
    pd.DataFrame(synthetic_rows(60, seed=11)).to_csv(data, index=False)
    pd.DataFrame(synthetic_rows(15, seed=12)).to_csv(test, index=False)
    linear_run, bert_run = root / "linear-run", root / "bert-run"
    base = ["run", str(data), "--test", str(test), "--quiet"]
    assert main([*base, "--out", str(linear_run), "--steps", "clean,split,baseline,evaluate"]) == 0
    tiny = tiny_model_dir("bert")
    bert = ["--out", str(bert_run), "--steps", "clean,split,train,evaluate", "--model", str(tiny), *FAST_TRAIN]
    assert main([*base, *bert, "train.epochs=1"]) == 0
    return World(root, data, test, tiny, linear_run, bert_run)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env(), capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made unwritable even for root: a read-only bind mount of it over itself."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot make a read-only folder as root here (mount --bind failed: {bind.stderr.strip()})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


# --- run: found before anything is written ----------------------------------------------------------------------
def write_rows(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


RUN_CASES: dict[str, tuple[Callable[[World, Path], list[str]], tuple[str, ...]]] = {
    "model folder that is not a model": (
        lambda w, out: ["--model", str(write_rows(w.root / "not-a-model" / "notes.txt", "hi").parent)],
        ("not a model folder",),
    ),
    "model that is a file": (lambda w, out: ["--model", str(w.data)], ("is a file",)),
    "steps in the wrong order": (lambda w, out: ["--steps", "split,clean,baseline,evaluate"], ("needs data.clean",)),
    "steps missing a prerequisite": (lambda w, out: ["--steps", "clean,split,evaluate"], ("model.current",)),
    "test file equal to the training file": (lambda w, out: ["--test", str(w.data)], ("is the training file",)),
    "config that is a folder": (lambda w, out: ["--config", str(w.root)], ("is a folder",)),
    "config that is not YAML": (
        lambda w, out: ["--config", str(write_rows(w.root / "bad.yaml", "train: [epochs: 2\n"))],
        ("not valid yaml",),
    ),
    "resume together with overwrite": (lambda w, out: ["--resume", "--overwrite"], ("contradict",)),
    "probability out of range": (lambda w, out: ["gate.confidence=7"], ("gate.confidence",)),
    "unknown override": (lambda w, out: ["train.nonsense=1"], ("nonsense",)),
    "two columns of one name": (
        lambda w, out: [],  # the data file is swapped below
        ("both named 'review'",),
    ),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_run_refuses_before_writing(case: str, world: World, tmp_path: Path) -> None:
    build, fragments = RUN_CASES[case]
    out = tmp_path / "run"
    data = world.data
    if case == "two columns of one name":
        data = write_rows(tmp_path / "dup.csv", "review,sentiment,review\n" + "a b,positive,c\n" * 10)
    extra = build(world, out)
    assert_one_line_error(
        cli("run", str(data), "--test", str(world.test), "--out", str(out), "--quiet", *extra), *fragments
    )
    assert not out.exists(), f"{case}: the run folder was created"


def test_cuda_without_a_gpu_is_refused_before_writing(world: World, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here: --device cuda is valid")
    out = tmp_path / "run"
    assert_one_line_error(cli("run", str(world.data), "--out", str(out), "--device", "cuda", "--quiet"), "cuda")
    assert not out.exists()


def test_an_earlier_run_survives_every_refusal(world: World) -> None:
    run = world.copy_run(world.linear_run, "kept-run")
    before = hash_path(run)
    for extra in (["--steps", "clean,split,evaluate"], ["--test", str(world.data)], ["--model", str(world.data)]):
        assert_one_line_error(cli("run", str(world.data), "--out", str(run), "--overwrite", "--quiet", *extra))
    assert hash_path(run) == before


def test_run_into_a_read_only_location(world: World, tmp_path: Path) -> None:
    with read_only(tmp_path / "locked") as locked:
        result = cli("run", str(world.data), "--test", str(world.test), "--out", str(locked / "run"), "--quiet")
    assert_one_line_error(result, "locked")


def test_resume_in_a_read_only_run_folder(world: World) -> None:
    run = world.copy_run(world.linear_run, "ro-run")
    before = hash_path(run)
    with read_only(run):
        result = cli("run", str(world.data), "--test", str(world.test), "--out", str(run), "--resume", "--quiet")
    assert_one_line_error(result, "ro-run")
    assert hash_path(run) == before


# --- inspect ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    ["text,label\nhello,\nworld,\n", "text,label\n&nbsp;,a\n&#32;,b\n&nbsp; &nbsp;,a\n"],
    ids=["all labels missing", "all texts whitespace entities"],
)
def test_inspect_without_usable_rows(content: str, tmp_path: Path) -> None:
    data = write_rows(tmp_path / "data.csv", content)
    assert_one_line_error(cli("inspect", str(data)), "no labeled rows")


# --- predict ---------------------------------------------------------------------------------------------------------
def test_predict_never_overwrites_its_input(world: World) -> None:
    before = world.test.read_bytes()
    assert_one_line_error(
        cli("predict", str(world.linear_run), str(world.test), "--out", str(world.test)), "input file"
    )
    assert world.test.read_bytes() == before


def test_predict_refuses_a_colliding_column(world: World, tmp_path: Path) -> None:
    source = tmp_path / "scored.csv"
    frame = pd.read_csv(world.test).assign(predicted_label="mine")
    frame.to_csv(source, index=False)
    out = tmp_path / "p.csv"
    assert_one_line_error(cli("predict", str(world.linear_run), str(source), "--out", str(out)), "predicted_label")
    assert not out.exists()


@pytest.mark.parametrize(
    ("out_name", "fragment"), [("folder", "is a folder"), ("p.xlsx", "end the file name")], ids=["dir", "extension"]
)
def test_predict_refuses_an_unusable_output(out_name: str, fragment: str, world: World, tmp_path: Path) -> None:
    out = tmp_path / out_name
    if out_name == "folder":
        out.mkdir()
    assert_one_line_error(cli("predict", str(world.linear_run), str(world.test), "--out", str(out)), fragment)


def test_predict_into_a_read_only_location(world: World, tmp_path: Path) -> None:
    with read_only(tmp_path / "locked") as locked:
        result = cli("predict", str(world.linear_run), str(world.test), "--out", str(locked / "p.csv"))
    assert_one_line_error(result, "locked")


def test_predict_on_a_file_instead_of_a_run(world: World, tmp_path: Path) -> None:
    result = cli("predict", str(world.data), str(world.test), "--out", str(tmp_path / "p.csv"))
    assert_one_line_error(result, "is a file")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated model.safetensors": lambda model: (model / "model.safetensors").write_bytes(
        (model / "model.safetensors").read_bytes()[:1000]
    ),
    "broken labels.json": lambda model: (model / "labels.json").write_text('{"labels": [', encoding="utf-8"),
    "broken ratchet.json": lambda model: (model / "ratchet.json").write_text("not json", encoding="utf-8"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_predict_with_a_damaged_model_folder(damage: str, world: World, tmp_path: Path) -> None:
    run = world.copy_run(world.bert_run, "damaged-" + damage.split()[-1])
    model = run / "model"
    for name in ("model.safetensors", "labels.json", "ratchet.json"):  # shipped files may be hard links
        data = (model / name).read_bytes()
        (model / name).unlink()
        (model / name).write_bytes(data)
    DAMAGE[damage](model)
    result = cli("predict", str(run), str(world.test), "--out", str(tmp_path / "p.csv"))
    assert_one_line_error(result, damage.split()[-1])


# --- report ----------------------------------------------------------------------------------------------------------
def test_report_on_a_file_and_on_a_folder_that_is_no_run(world: World, tmp_path: Path) -> None:
    assert_one_line_error(cli("report", str(world.data)), "is a file")
    assert_one_line_error(cli("report", str(tmp_path)), "not a ratchet run folder")
    assert_one_line_error(cli("report", str(tmp_path / "missing")), "not found")


def test_report_in_a_read_only_run_folder(world: World) -> None:
    run = world.copy_run(world.linear_run, "ro-report")
    with read_only(run):
        result = cli("report", str(run))
    assert_one_line_error(result, "ro-report")


# --- worker: fails at once, never after ten minutes ------------------------------------------------------------------
def test_worker_on_a_run_without_search(world: World) -> None:
    storage = f"sqlite:///{world.root / 'w.db'}"
    result = cli("worker", str(world.linear_run), "--storage", storage, timeout=60)
    assert_one_line_error(result, "no search step")


def test_worker_with_a_bad_storage_url(world: World) -> None:
    result = cli("worker", str(world.linear_run), "--storage", "nosuchdb://user@host/db", timeout=60)
    assert_one_line_error(result, "storage")


def test_worker_on_a_run_whose_search_finished(world: World, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    out = tmp_path / "searched"
    args = ["run", str(world.data), "--out", str(out), "--model", str(world.tiny), "--quiet", "--storage", storage]
    assert main([*args, "--steps", "clean,split,search", *FAST_TRAIN, "train.epochs=1", "search.n_trials=1"]) == 0
    assert_one_line_error(cli("worker", str(out), "--storage", storage, timeout=60), "has finished")


def test_worker_on_a_run_that_is_not_running(world: World, tmp_path: Path) -> None:
    """A recipe with a search that never started, and no process running it: no point in waiting."""
    import yaml

    run = world.copy_run(world.linear_run, "idle-run")
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    config["steps"] = ["clean", "split", "baseline", "search", "evaluate"]
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = cli("worker", str(run), "--storage", f"sqlite:///{tmp_path / 's.db'}", timeout=60)
    assert_one_line_error(result, "not running")
