"""The CLI's explanation commands: ``ratchet explain`` and ``predict --explain``'s options."""

from __future__ import annotations

import argparse
import sys

from ratchet.explain.gradients import DEFAULT_STEPS


def add_explain_commands(sub, predict: argparse.ArgumentParser) -> None:
    """Add ``explain`` to the subcommand parsers and ``--explain`` / ``--top`` to ``predict``."""
    explain = sub.add_parser("explain", help="word attributions for every input row (JSON Lines or an HTML page)")
    explain.add_argument("run", help="run folder (or its model/ folder)")
    explain.add_argument("input", help="file of texts (same formats as run); it is never modified")
    explain.add_argument("--out", help="FILE.jsonl (one record per row) or FILE.html (highlighted texts)")
    explain.add_argument(
        "--method", choices=("ig", "occlusion"), default="ig",
        help="ig: Integrated Gradients (exact contributions for the TF-IDF model); occlusion: delete each word",
    )  # fmt: skip
    explain.add_argument(
        "--target",
        default="predicted",
        help="class the scores explain: predicted (default; multi-label: each predicted label) or a label",
    )
    explain.add_argument("--top", type=int, default=5, help="top words per row in the JSON Lines (default 5)")
    explain.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"IG steps (default {DEFAULT_STEPS})")
    explain.add_argument(
        "--faithfulness", action="store_true",
        help="also print comprehensiveness and sufficiency of IG, occlusion and random words on these rows",
    )  # fmt: skip
    explain.add_argument("--text-col", help="text column (auto-detected when obvious)")
    explain.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run the model")
    explain.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--explain", action="store_true", help="add a top_words column (IG; slower than predict)")
    predict.add_argument("--top", type=int, default=5, help="words in top_words with --explain (default 5)")


def cmd_explain(args: argparse.Namespace) -> int:
    from ratchet.explain.files import explain_file

    summary = explain_file(
        args.run, args.input, args.out, method=args.method, target=args.target, top=args.top, steps=args.steps,
        text_col=args.text_col, device=args.device, with_faithfulness=args.faithfulness, show_progress=not args.quiet,
    )  # fmt: skip
    per_100 = 100 * summary.seconds / max(summary.rows, 1)
    where = f" to {summary.out}" if summary.out else ""
    sys.stdout.write(f"explained {summary.rows} rows{where} in {summary.seconds:.1f} s ({per_100:.1f} s per 100)\n")
    if summary.faithfulness:
        sys.stdout.write(
            "faithfulness (AOPC over 1/5/10/20/50% of words, predicted label; multi-label: each label explained):\n"
        )
        header = f"  {'method':<10} {'comprehensiveness':>18} {'sufficiency':>12}  (higher / lower is better)"
        sys.stdout.write(header + "\n")
        for name, found in summary.faithfulness.items():
            line = f"  {name:<10} {found['comprehensiveness']:>18.4f} {found['sufficiency']:>12.4f}"
            sys.stdout.write(line + "\n")
    return 0


EXPLAIN_COMMANDS = {"explain": cmd_explain}
