"""Command line: parse, build a RunConfig, call the library, print. No logic of its own."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ratchet.cli_config import column_flags, config_from_args
from ratchet.cli_explain import EXPLAIN_COMMANDS, add_explain_commands
from ratchet.cli_ship import SHIP_COMMANDS, add_ship_commands
from ratchet.config import PRESETS
from ratchet.errors import RatchetError

EXIT_BAD_INPUT = 2
_USER_FIXABLE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; ratchet's contract is one line naming problem and fix."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message}: see `{self.prog} --help`\n")


def _preset_help() -> str:
    """From the recipe itself, so that the help never lists steps a preset no longer runs."""
    from ratchet import presets

    fast = presets.PRESET_STEPS["fast"]

    def added(preset: str, earlier: tuple[str, ...]) -> str:
        small = "" if presets.PRESET_SEARCHES_SMALL_DATA[preset] else ", not on small data"
        student = "" if presets.PRESET_STUDENTS_SMALL_DATA[preset] else " (int8 only on small data)"
        named = {"search": f"search ({presets.PRESET_TRIALS[preset]} trials{small})",
                 "ensemble": f"a {presets.PRESET_SEEDS[preset]}-seed ensemble",
                 "compress": f"compress{student}"}  # fmt: skip
        new = [named.get(s, s) for s in presets.PRESET_STEPS[preset] if s not in earlier]
        return ", ".join(new[:-1]) + f" and {new[-1]}" if len(new) > 1 else ", ".join(new)

    # fast's select races nothing: it only lets the few-shot candidate in (step_builders._races_backbones)
    fast_names = ", ".join("select (few-shot only)" if s == "select" else s for s in fast)
    return (
        f"fast (default): {fast_names}; balanced: + a backbone race in select, {added('balanced', fast)}; "
        f"best: + {added('best', presets.PRESET_STEPS['balanced'])} ({presets.PRESET_TRIALS['best']} trials, "
        f"{presets.PRESET_SEEDS['best']}-seed ensemble)"
    )


PRESET_HELP = _preset_help()


def build_parser() -> argparse.ArgumentParser:
    from ratchet import __version__
    from ratchet.recipe import STEP_NAMES

    parser = _OneLineParser(
        prog="ratchet",
        description="Adapt a pretrained language model to your labels; every optional step is kept only if "
        "it measurably improves validation macro-F1, and the test set stays sealed until the end.",
    )
    parser.add_argument("--version", action="version", version=f"ratchet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline on a labeled file", description=f"Presets: {PRESET_HELP}.")
    run.add_argument("data", help="labeled training data: CSV, TSV, JSON Lines, JSON or Parquet")
    run.add_argument("--test", help="labeled test file (sealed); otherwise a share of DATA is sealed")
    run.add_argument("--out", required=True, help="run folder (created; an earlier run needs --resume or --overwrite)")
    _add_column_args(run)
    run.add_argument(
        "--model", action="append", dest="models", metavar="NAME_OR_PATH",
        help="backbone: a local folder or a Hugging Face name in the local cache; repeatable for candidates "
        "(default: all-MiniLM-L6-v2, shipped with ratchet)",
    )  # fmt: skip
    run.add_argument("--budget", help="wall-clock budget for the whole run: 600 (seconds), 90s, 20m or 2h")
    run.add_argument("--preset", choices=PRESETS, help=PRESET_HELP)
    run.add_argument(
        "--steps", metavar="STEP,STEP,...",
        help=f"explicit comma-separated recipe instead of the preset's; steps: {', '.join(STEP_NAMES)}",
    )  # fmt: skip
    run.add_argument("--seed", type=int, help="random seed of splits, folds and fine-tunes (default 0)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (default auto: cuda if visible)")
    run.add_argument("--config", help="YAML file of settings (RUN/config.yaml of an earlier run works)")
    run.add_argument("--resume", action="store_true", default=None, help="continue the run in --out")
    run.add_argument("--overwrite", action="store_true", default=None, help="replace the run in --out")
    run.add_argument("--unlabeled", help="unlabeled in-domain texts, one per line (adapt and selftrain steps)")
    run.add_argument("--label-fixes", help="reviewed label_issues.csv (accept column) to apply to training labels")
    run.add_argument("--storage", help="Optuna storage URL for the search (default: SQLite in the run folder)")
    run.add_argument("--ensemble", action="store_true", default=None, help="add the ensemble step (more seeds)")
    run.add_argument(
        "--refit-all", action="store_true", default=None,
        help="without --test: after the sealed evaluation, refit on every labeled row and ship that",
    )  # fmt: skip
    run.add_argument("--track", action="append", choices=("mlflow", "tensorboard"), help="log to a tracker")
    run.add_argument("--tracking-uri", help="MLflow tracking URI (default: a file store in the run folder)")
    run.add_argument("--quiet", action="store_true", help="no progress bars or progress lines")
    run.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.epochs=2")
    run.set_defaults(overrides=[])

    inspect = sub.add_parser("inspect", help="data report only: quality, duplicates, conflicts, lengths")
    inspect.add_argument("data", help="labeled data file: CSV, TSV, JSON Lines, JSON or Parquet")
    _add_column_args(inspect)
    inspect.add_argument("--json", action="store_true", help="print the report as JSON on stdout")

    predict = sub.add_parser("predict", help="predicted_label + prob_<label> columns for every input row")
    predict.add_argument("run", help="run folder (or its model/ folder)")
    predict.add_argument("input", help="file of texts (same formats as run); it is never modified")
    predict.add_argument(
        "--out", required=True,
        help="output file, by extension: .csv, .tsv, .jsonl, .json or .parquet; never the input file",
    )  # fmt: skip
    predict.add_argument("--text-col", help="text column (auto-detected when obvious)")
    predict.add_argument("--text-pair-col", help="second text column, for a model trained on text pairs")
    predict.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run the model")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")

    add_ship_commands(sub)
    add_explain_commands(sub, predict)
    report = sub.add_parser("report", help="(re)build RUN/report.html")
    report.add_argument("run", help="run folder")

    compare = sub.add_parser("compare", help="compare two runs that share a test set (paired bootstrap, McNemar)")
    compare.add_argument("run_a", help="first run folder")
    compare.add_argument("run_b", help="second run folder")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")

    worker = sub.add_parser("worker", help="join the hyperparameter search of RUN through a shared storage")
    worker.add_argument("run", help="run folder whose search to join (its config and data are used)")
    worker.add_argument("--storage", required=True, help="Optuna storage URL, e.g. postgresql://user@host/db")
    worker.add_argument("--trials", type=int, help="trials this worker runs at most")
    return parser


def _add_column_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-col", help="text column (auto-detected when obvious)")
    parser.add_argument("--text-pair-col", help="second text column for sentence-pair tasks")
    parser.add_argument("--label-col", help="label column (auto-detected when obvious)")
    parser.add_argument("--label-sep", help="multi-label: labels in the label column are joined by this separator")
    parser.add_argument("--label-cols", help="multi-label: comma-separated 0/1 columns, one per label (a,b,c)")


def cmd_run(args: argparse.Namespace) -> int:
    from ratchet.pipeline import Pipeline
    from ratchet.reporting.console import print_run_summary
    from ratchet.reporting.progress import Progress

    config = config_from_args(args)
    with Progress(enabled=not args.quiet) as progress:
        result = Pipeline.from_config(config, progress=progress).run()
    print_run_summary(result, progress.console)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from ratchet.config import CleanParams, DataParams
    from ratchet.data.report import inspect_data, summarize

    params = DataParams(**column_flags(args))
    report = inspect_data(args.data, params, CleanParams())
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        for line in summarize(report):
            sys.stdout.write(line + "\n")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ratchet.predict import predict_file

    predict_file(
        args.run,
        args.input,
        args.out,
        text_col=args.text_col,
        text_pair_col=args.text_pair_col,
        device=args.device,
        show_progress=not args.quiet,
        explain_top=args.top if args.explain else 0,
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ratchet.reporting.report import build_report
    from ratchet.rundir import require_run_dir
    from ratchet.runlock import run_lock

    run_dir = require_run_dir(args.run)
    with run_lock(run_dir, "report"):
        path = build_report(run_dir)
    sys.stdout.write(f"{path}\n")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ratchet.reporting.compare import compare_runs, format_comparison

    comparison = compare_runs(args.run_a, args.run_b)
    if args.json:
        sys.stdout.write(json.dumps(comparison, indent=2, default=str) + "\n")
    else:
        for line in format_comparison(comparison):
            sys.stdout.write(line + "\n")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ratchet.search.worker import run_worker

    # A worker has no progress bar: its "joined" line (and Optuna's line per trial) show it is working.
    logging.getLogger("ratchet").setLevel(logging.INFO)
    done = run_worker(args.run, args.storage, max_trials=args.trials)
    sys.stdout.write(f"worker finished {done} trials\n")
    return 0


COMMANDS = {
    "run": cmd_run,
    "inspect": cmd_inspect,
    "predict": cmd_predict,
    **SHIP_COMMANDS,
    **EXPLAIN_COMMANDS,
    "report": cmd_report,
    "compare": cmd_compare,
    "worker": cmd_worker,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may sit anywhere among the options, which argparse's positionals cannot express.
    try:
        args, extras = parser.parse_known_args(argv)
        unknown = [item for item in extras if item.startswith("-") or args.command != "run"]
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exc:  # --help, or a one-line usage error: return its code like every other path
        return int(exc.code or 0)
    _quiet_libraries()
    try:
        if args.command == "run":
            args.overrides = [*args.overrides, *extras]
        return COMMANDS[args.command](args)
    except RatchetError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno not in _USER_FIXABLE_ERRNOS:
            raise
        # A read-only folder, a full disk: the user's to fix, so one line (the run folder stays resumable).
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(
            f"error: {exc.strerror}{where}: check its permissions, choose a writable location or free disk space\n"
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: continue with the same command plus --resume\n")
        return 130


def _quiet_libraries() -> None:
    # Library chatter (hub lookups, "weights newly initialized") is noise for a CLI user.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")


if __name__ == "__main__":
    raise SystemExit(main())
