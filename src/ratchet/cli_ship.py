"""The CLI's commands that take a trained model out of ratchet: export and serve."""

from __future__ import annotations

import argparse
import sys

from ratchet.errors import RatchetError


def add_ship_commands(sub) -> None:
    """Add ``export`` and ``serve`` to the ``ratchet`` subcommand parsers."""
    export = sub.add_parser("export", help="the shipped model as ONNX graphs + a reader that needs no ratchet")
    export.add_argument("run", help="run folder (or its model/ folder)")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default onnx)")
    export.add_argument(
        "--quantize", choices=("none", "int8"), default="none",
        help="int8: onnxruntime's dynamic int8 quantization of the weights (smaller, faster on CPU; check accuracy)",
    )  # fmt: skip
    export.add_argument("--out", required=True, help="new folder for the export (an existing one is refused)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")

    serve = sub.add_parser("serve", help="HTTP JSON API for the shipped model (POST /predict, docs at /docs)")
    serve.add_argument("run", help="run folder, its model/ folder, or an export folder (served with onnxruntime)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes, each with its own model (default 1)")
    serve.add_argument("--max-texts", type=int, default=256, help="texts per request; more answer 413 (default 256)")
    serve.add_argument(
        "--max-chars", type=int, default=20_000, help="characters per text; longer answer 422 (default 20000)"
    )
    serve.add_argument("--max-batch", type=int, default=64, help="texts per model call when requests are batched")
    serve.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where a PyTorch model runs")
    serve.add_argument(
        "--parallel", type=int,
        help="model calls at once, one CPU thread each (default: an export's cores per worker; PyTorch 1)",
    )  # fmt: skip


def cmd_export(args: argparse.Namespace) -> int:
    from ratchet.export.exporter import export_model

    summary = export_model(args.run, args.out, quantize=args.quantize, overwrite=args.overwrite)
    fused = f" ({summary.fused} with fused attention)" if summary.fused else ""
    parts = [f"{len(summary.graphs)} ONNX graph(s){fused}"] + (
        [f"{len(summary.arrays)} TF-IDF model(s) as arrays"] if summary.arrays else []
    )
    sys.stdout.write(
        f"exported {' and '.join(parts)} to {summary.out} ({summary.bytes / 1e6:.1f} MB, {summary.seconds:.0f} s); "
        f"see {summary.out / 'README.md'}\n"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise RatchetError("ratchet serve needs fastapi and uvicorn: pip install 'ratchet[serve]'") from None
    from ratchet.serve.app import ServeConfig, serve

    for name in ("workers", "max_texts", "max_chars", "max_batch", "parallel"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise RatchetError(f"--{name.replace('_', '-')} must be at least 1")
    config = ServeConfig(args.run, max_texts=args.max_texts, max_chars=args.max_chars, max_batch=args.max_batch,
                         device=args.device, parallel=args.parallel, workers=args.workers)  # fmt: skip
    serve(config, host=args.host, port=args.port)
    return 0


SHIP_COMMANDS = {"export": cmd_export, "serve": cmd_serve}
