"""``ratchet serve``: the shipped model behind an HTTP JSON API (FastAPI + uvicorn).

``POST /predict`` {"texts": [...], "pairs": [...]?} -> one label and its probabilities per text (a
multi-label model: ``labels``, the list of labels whose independent probability reaches its threshold);
``GET /health``; ``GET /metadata`` (labels, task, thresholds, model hash, the run's test metrics and ledger);
OpenAPI docs at ``/docs``. An export folder (``ratchet export``) is served with onnxruntime,
a run or model folder with PyTorch. Concurrent requests are batched (serve.batcher). Limits on
texts per request and characters per text answer 413 and 422 with a message naming the limit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ratchet.errors import RatchetError
from ratchet.fsutil import hash_path

log = logging.getLogger("ratchet.serve")
CONFIG_ENV = "RATCHET_SERVE_CONFIG"
"""How uvicorn's worker processes learn what to serve (each builds its app from it)."""


# Module level: FastAPI resolves the (string) annotations of its endpoints in this module's namespace.
class PredictRequest(BaseModel):
    texts: list[str] = Field(min_length=1, description="texts to classify (at least one)")
    pairs: list[str] | None = Field(default=None, description="second text of each row, for pair models")


class Prediction(BaseModel):
    label: Any
    probabilities: dict[str, float]


class LabelSetPrediction(BaseModel):
    """A multi-label model's answer: its own shape, so single-label clients keep reading ``label``."""

    labels: list[Any] = Field(description="labels whose probability reaches their threshold (possibly none)")
    probabilities: dict[str, float] = Field(description="independent sigmoid probability of each label")


class PredictResponse(BaseModel):
    predictions: list[Prediction] | list[LabelSetPrediction]
    model_hash: str


@dataclass(frozen=True)
class ServeConfig:
    source: str
    """A run folder, its model/ folder, or an export folder."""
    max_texts: int = 256
    max_chars: int = 20_000
    max_batch: int = 64
    wait_ms: float = 5.0
    device: str = "cpu"
    parallel: int | None = None
    """Model calls at once; above 1 each call runs on one CPU thread (see serve.batcher). None:
    the CPU cores left to each of ``workers`` for an ONNX export, 1 for PyTorch (whose calls hold
    Python's lock for much of a forward pass: two at once answered 87 texts/s against 90)."""
    workers: int = 1
    """Server processes, each with its own copy of the model."""


class _Model:
    """What is served: labels, probabilities, decisions, and the facts /metadata shows."""

    def __init__(self, config: ServeConfig) -> None:
        source = Path(config.source)
        if (source / "export.json").is_file():
            self.backend, self.model_dir = "onnxruntime", source
            from ratchet.config import CleanParams
            from ratchet.data.clean import normalize_texts
            from ratchet.export import load_export_predictor

            self.parallel = config.parallel or max(1, min(8, _cores() // config.workers))
            # Each call's threads: the cores left to it by the workers and the calls beside it.
            calls = self.parallel * config.workers
            exported = load_export_predictor(source, threads=max(1, _cores() // calls) if calls > 1 else None)
            self.labels, self.text_pair = list(exported.labels), bool(exported.meta["text_pair"])
            self.multilabel, self.thresholds = exported.multilabel, exported.model.thresholds
            clean = CleanParams(**exported.meta["clean"])

            def predict_proba(texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
                repaired = None if pairs is None else normalize_texts(pairs, clean)
                return exported.predict_probs(normalize_texts(texts, clean), repaired)

            self.predict_proba, self._decide = predict_proba, exported.predict_ids
            spec = _read(source / "export.json")  # where the export came from: the run whose facts /metadata shows
            origin = spec.get("source") if isinstance(spec.get("source"), dict) else {}
            run = Path(str(origin.get("model_dir", source))).parent
        else:
            import torch

            import ratchet

            self.parallel = config.parallel or 1
            if self.parallel > 1:  # one thread per call, several calls at once (serve.batcher)
                torch.set_num_threads(1)
            model = ratchet.load(source, device=config.device)
            self.backend, self.model_dir = "pytorch", model.model_dir
            self.labels, self.text_pair = list(model.classes_), model.text_pair
            self.predict_proba, self._decide = model.predict_proba, model.decide_ids
            self.multilabel, self.thresholds = model.multilabel, model.thresholds
            run = model.model_dir.parent
        self.hash = hash_path(self.model_dir)[:16]
        self.run = run if (run / "ledger.json").is_file() else None

    def decide(self, probs: np.ndarray) -> list:
        """One label per row, or (multi-label) one list of labels per row."""
        if not len(probs):
            return []
        if self.multilabel:
            return [[self.labels[j] for j in np.flatnonzero(row)] for row in self._decide(probs)]
        return [self.labels[i] for i in self._decide(probs)]

    def metadata(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"labels": self.labels, "model_hash": self.hash, "backend": self.backend,
                                 "text_pair": self.text_pair, "model_dir": str(self.model_dir),
                                 "parallel_calls": self.parallel,
                                 "task": "multilabel" if self.multilabel else "single_label"}  # fmt: skip
        if self.multilabel:
            facts["thresholds"] = dict(zip(map(str, self.labels), self.thresholds, strict=True))
        if self.run is not None:
            metrics = _read(self.run / "metrics.json")
            facts["test_metrics"] = {k: v for k, v in (metrics.get("test") or {}).items() if isinstance(v, int | float)}
            facts["ledger"] = [
                {k: entry.get(k) for k in ("step", "status", "metric", "before", "after", "gain")}
                for entry in _read_list(self.run / "ledger.json")
            ]
        return facts


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the machine's
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _read(path: Path) -> dict[str, Any]:
    data = _json(path)
    return data if isinstance(data, dict) else {}


def _read_list(path: Path) -> list[dict[str, Any]]:
    data = _json(path)
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class _RequestLog:
    """One line per request (method, path, status, latency), as a plain ASGI middleware.

    ``@app.middleware("http")`` wraps every request in Starlette's BaseHTTPMiddleware, which
    runs the endpoint in a separate task and streams its response through a memory channel;
    with one short text per request that wrapping is a visible share of the server's time.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, (time.perf_counter() - started) * 1000)


def create_app(config: ServeConfig | None = None):
    """The FastAPI app; without ``config`` it is read from $RATCHET_SERVE_CONFIG (uvicorn workers)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from ratchet.serve.batcher import Batcher

    if config is None:  # a uvicorn worker process: its own logging, its config from the parent
        config = ServeConfig(**json.loads(os.environ[CONFIG_ENV]))
        _log_requests()
    model = _Model(config)
    batcher = Batcher(model.predict_proba, config.max_batch, config.wait_ms / 1000, model.parallel)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="ratchet model server", lifespan=lifespan,
                  description=f"Labels: {', '.join(map(str, model.labels))}. Backend: {model.backend}.")  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse(status_code=422, content={"detail": f"invalid request: {problems}"})

    app.add_middleware(_RequestLog)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model_hash": model.hash, "backend": model.backend}

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        return model.metadata()

    @app.post("/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest) -> PredictResponse:
        if len(body.texts) > config.max_texts:
            raise HTTPException(413, f"{len(body.texts)} texts in one request; the limit is {config.max_texts}: "
                                     "split the request")  # fmt: skip
        longest = max(len(t) for t in body.texts + (body.pairs or []))
        if longest > config.max_chars:
            raise HTTPException(422, f"a text of {longest} characters; the limit is {config.max_chars}: shorten it "
                                     "(the model reads its first tokens only)")  # fmt: skip
        if model.text_pair and body.pairs is None:
            raise HTTPException(422, "this model reads text pairs: send pairs with the second text of each row")
        if not model.text_pair and body.pairs is not None:
            raise HTTPException(422, "this model does not read text pairs: send texts only")
        if body.pairs is not None and len(body.pairs) != len(body.texts):
            raise HTTPException(422, f"{len(body.texts)} texts but {len(body.pairs)} pairs: send one pair per text")
        try:
            probs = await batcher.submit(body.texts, body.pairs)
        except RatchetError as exc:
            raise HTTPException(422, str(exc)) from None
        decided = model.decide(probs)
        names = [str(label) for label in model.labels]
        shown = [dict(zip(names, map(float, row), strict=True)) for row in probs]
        if model.multilabel:
            predictions = [
                LabelSetPrediction(labels=labels, probabilities=p) for labels, p in zip(decided, shown, strict=True)
            ]
        else:
            predictions = [Prediction(label=label, probabilities=p) for label, p in zip(decided, shown, strict=True)]
        return PredictResponse(predictions=predictions, model_hash=model.hash)  # fmt: skip

    return app


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the server until interrupted. A folder that cannot be served fails before it starts, in one line."""
    import socket

    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = f"cannot listen on {host}:{port} ({exc.strerror})"
            raise RatchetError(f"{reason}: choose another --port or --host") from None
    _log_requests()
    options = {"host": host, "port": port, "log_level": "warning", "access_log": False}
    workers = config.workers
    if workers == 1:
        app = create_app(config)
        log.warning("serving %s on http://%s:%d (docs: /docs)", config.source, host, port)
        uvicorn.run(app, **options)
        return
    _Model(config)  # checked once here: each worker loads its own copy
    os.environ[CONFIG_ENV] = json.dumps(asdict(config))
    log.warning("serving %s with %d workers on http://%s:%d (docs: /docs)", config.source, workers, host, port)
    uvicorn.run("ratchet.serve.app:create_app", factory=True, workers=workers, **options)


def _log_requests() -> None:
    """One line per request on stderr (method, path, status, latency)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
